export * from "./gen/onlyboxes/registry/v1/registry_pb.js";
export * from "./src/contracts/index.ts";
