/** Variables of the gpu component. */

/** GPU variables. */
export const gpuVars = {};
