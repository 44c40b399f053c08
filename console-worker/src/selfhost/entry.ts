// The front of a console run by bare workerd (self-host only): it gives the console the
// client's address as `CF-Connecting-IP`, which Cloudflare (and Miniflare) set on every
// request and the sign-in and bearer throttles count by. As there, a header the client
// already sent is kept: a reverse proxy in front is expected to overwrite it.

interface Env {
  /** The console Worker. */
  CONSOLE: Fetcher;
}

/** workerd reports the peer as `ip:port` or `[ip6]:port`. */
function peerAddress(clientIp: string): string | undefined {
  return /^\[(.+)\]:\d+$/.exec(clientIp)?.[1] ?? /^([^:]+):\d+$/.exec(clientIp)?.[1] ?? (clientIp || undefined);
}

export default {
  fetch(request: Request, env: Env): Promise<Response> {
    const clientIp = (request.cf as { clientIp?: unknown } | undefined)?.clientIp;
    if (typeof clientIp === "string" && !request.headers.has("cf-connecting-ip")) {
      const address = peerAddress(clientIp);
      if (address) {
        const forwarded = new Request(request);
        forwarded.headers.set("cf-connecting-ip", address);
        return env.CONSOLE.fetch(forwarded);
      }
    }
    return env.CONSOLE.fetch(request);
  },
} satisfies ExportedHandler<Env>;
