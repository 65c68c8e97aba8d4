/** Variables of the agent as a whole: slots, shutdown, HTTP. */

/** Agent variables. */
export const agentVars = {};
