/** Maps the validated configuration to the bus's connection and job-service options. */
import type { Config } from "../config/mod.ts";
import type { BusConnectOptions } from "./connection.ts";
import type { JobServiceOptions } from "./job_service.ts";

/** Connection options from config. */
export function connectOptionsFromConfig(config: Config, name = "lamda-node-agent"): BusConnectOptions {
  return {
    servers: config.natsServers,
    name,
    credsFile: config.natsCreds,
    nkeySeedFile: config.natsNkeySeedFile,
    token: config.natsToken,
    user: config.natsUser,
    password: config.natsPassword,
    tls: { caFile: config.natsTlsCa, certFile: config.natsTlsCert, keyFile: config.natsTlsKey },
  };
}

/** Job-service options from config; the agent adds its address, version and health provider. */
export function jobServiceOptionsFromConfig(
  config: Config,
  agentAddress: string,
  extra: Pick<JobServiceOptions, "version" | "health" | "onTerminal"> = {},
): JobServiceOptions {
  return {
    agentAddress,
    intake: config.jobIntake,
    statusSubject: config.statusSubject,
    maxMessageBytes: config.jobMaxMessageSize,
    signers: config.jobSigners ?? [],
    presenceIntervalMs: config.presenceInterval,
    // Aborted jobs' containers get JOB_STOP_GRACE before SIGKILL, then are removed: wait for that on shutdown.
    abortWaitMs: config.jobStopGrace + 10_000,
    jetstream: {
      jobStream: config.jetstreamJobStream,
      statusStream: config.jetstreamStatusStream,
      createStreams: config.jetstreamCreateStreams,
      ackWaitMs: config.jobAckWait,
      maxDeliver: config.jobMaxDeliver,
    },
    ...extra,
  };
}
