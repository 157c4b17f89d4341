// ESM entry of lemu-node: the implementation is index.cjs (one copy, usable from both worlds).
import lemu from './index.cjs';

export const { startLemu, findLemuBin, LemuError } = lemu;
export default lemu;
