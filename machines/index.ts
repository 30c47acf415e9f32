// Both roles of the flow as XState machines, with the readers and the persistence contract they need.
export * from "./http-answer.ts";
export * from "./device-answers.ts";
export * from "./device.machine.ts";
export * from "./server.machine.ts";
export * from "./server-store.ts";
export * from "./server-step.ts";
export * from "./frozen.ts";
