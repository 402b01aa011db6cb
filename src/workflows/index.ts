export { archive, progressQuery, progressSignal } from './archive';
