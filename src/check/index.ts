// Checks of the engine's ops against float64 references: the case table (how to draw valid
// arguments for each op and update, and what they must give), the runner the tests and
// `gpt doctor --check` share, and the float64 references themselves.
export { describeMismatch, worstElement } from './compare.js';
export { seededRandom, seededValues, type Random } from './random.js';
export { doctorCheck, formatChecks, runChecks } from './report.js';
export { FD_ELEMENTS } from './gradients.js';
export { availableChecks, checkSample, EMPTY_CHECKS, type Check } from './run.js';
export { toHalf, floatInput, intInput, type Comparison, type Sample } from './sample.js';
