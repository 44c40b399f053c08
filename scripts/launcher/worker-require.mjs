// The `require` the local worker's bundle gives the CommonJS code it contains (dockerode
// and docker-modem). Those load an SSH client and a gRPC stack at import, for Docker over
// SSH and BuildKit sessions, which this worker never uses (its Docker is a socket or
// http(s) address): ≈ 20 MiB of resident memory for nothing. Here those modules load on
// first use instead, so the code works the same if a use ever appears.
import { createRequire } from "node:module";

/** Modules dockerode and docker-modem only touch inside functions (never at import). */
const DEFERRED = new Set(["@grpc/grpc-js", "@grpc/proto-loader"]);

/**
 * A `require` resolving from `url` that answers stand-ins for ssh2 and the gRPC modules;
 * each stand-in loads the real module the first time it is used.
 */
export function workerRequire(url) {
  const real = createRequire(url);
  return Object.assign((id) => {
    // docker-modem reads `Client` at import and constructs it only for ssh:// hosts.
    if (id === "ssh2") {
      return {
        Client: function Client(...args) {
          return new (real("ssh2").Client)(...args);
        },
      };
    }
    if (DEFERRED.has(id)) return new Proxy({}, { get: (_, name) => real(id)[name] });
    return real(id);
  }, real);
}
