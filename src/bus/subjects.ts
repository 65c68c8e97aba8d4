/** NATS subjects of the wire contract (docs/wire-contract.md §3, §1.5) and this agent's presence and cancel subjects. */
import { getAddress } from "ethers";

/** Dispatch subjects an agent listens on: the EIP-55 form first, then the all-lowercase form (deduplicated). */
export function dispatchSubjects(address: string): string[] {
  const checksummed = getAddress(address);
  return [...new Set([`jobs.dispatch.${checksummed}`, `jobs.dispatch.${checksummed.toLowerCase()}`])];
}

/** Cancel subjects (`jobs.cancel.<address>`), both forms. */
export function cancelSubjects(address: string): string[] {
  const checksummed = getAddress(address);
  return [...new Set([`jobs.cancel.${checksummed}`, `jobs.cancel.${checksummed.toLowerCase()}`])];
}

/** The subject of a job's live output (`jobs.logs.<job_id>`, docs/bus.md). */
export function jobLogSubject(jobId: string): string {
  return `jobs.logs.${jobId}`;
}

/** The presence subject `agent.heartbeat.<EIP-55 address>`. */
export function presenceSubject(address: string): string {
  return `agent.heartbeat.${getAddress(address)}`;
}

/**
 * JetStream durable consumers of an agent, one per dispatch subject: `agent_<lowercase hex>` for the EIP-55 subject
 * (the name earlier versions used) and `agent_<lowercase hex>_lc` for the lowercase one (names cannot contain dots).
 */
export function durableConsumers(address: string): { durable: string; filterSubject: string }[] {
  const base = `agent_${getAddress(address).slice(2).toLowerCase()}`;
  return dispatchSubjects(address).map((filterSubject, i) => ({
    durable: i === 0 ? base : `${base}_lc`,
    filterSubject,
  }));
}
