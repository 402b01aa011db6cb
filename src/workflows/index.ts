export { archive } from './archive';
