// Checks of the engine's ops against float64 references: the case table (how to draw valid
// arguments for each op and update, and what they must give), the runner the tests and
// `gpt doctor --check` share, and the float64 references themselves.
export { OP_CASES, UPDATE_CASES } from './cases/index.js';
export { describeMismatch, errorRatio, worstElement, type Mismatch } from './compare.js';
export { seededRandom, seededValues, type Random } from './random.js';
export { doctorCheck, formatChecks, runChecks, type CheckRow, type RunChecksOptions } from './report.js';
export { FD_ELEMENTS, type SampleOptions } from './gradients.js';
export { availableChecks, CHECKS, EMPTY_CHECKS, checkOp, checkSample, checkUpdate, type Check, type CheckDtype, type CheckResult } from './run.js';
export { EXACT, F16_EPS, F16_TINY, GRAD_TOL, halfGradTol, halfTol, toHalf, floatInput, intInput, type Comparison, type Input, type OpCase, type Sample, type HalfSpec, type Tolerance, type UpdateCase, type UpdateSample, type Written } from './sample.js';
