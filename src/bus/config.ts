/** Maps the validated configuration to the bus's connection and intake options. */
import type { Config } from "../config/mod.ts";
import type { BusConnectOptions } from "./connection.ts";
import type { BusIntakeOptions } from "./intake.ts";

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

/** Intake options from config; `maxAckPending` bounds the jobs the server hands out unacknowledged. */
export function intakeOptionsFromConfig(
  config: Config,
  agentAddress: string,
  maxAckPending: number,
): BusIntakeOptions {
  return {
    agentAddress,
    mode: config.jobIntake,
    statusSubject: config.statusSubject,
    jetstream: {
      jobStream: config.jetstreamJobStream,
      statusStream: config.jetstreamStatusStream,
      createStreams: config.jetstreamCreateStreams,
      ackWaitMs: config.jobAckWait,
      maxDeliver: config.jobMaxDeliver,
      maxAckPending,
    },
  };
}
