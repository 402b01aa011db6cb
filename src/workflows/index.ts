export { archive, progressQuery, progressSignal } from './archive';
export { restore } from './restore';
