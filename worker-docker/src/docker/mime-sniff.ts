import { PNG_SIGNATURE } from "./image-collector.ts";
import { completeUtf8Length } from "./output-collector.ts";

const BY_EXTENSION: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  bmp: "image/bmp",
  ico: "image/x-icon",
  svg: "image/svg+xml",
  avif: "image/avif",
  tif: "image/tiff",
  tiff: "image/tiff",
  txt: "text/plain",
  log: "text/plain",
  md: "text/markdown",
  csv: "text/csv",
  tsv: "text/tab-separated-values",
  html: "text/html",
  htm: "text/html",
  css: "text/css",
  xml: "application/xml",
  json: "application/json",
  jsonl: "application/x-ndjson",
  yaml: "application/yaml",
  yml: "application/yaml",
  toml: "application/toml",
  js: "text/javascript",
  mjs: "text/javascript",
  ts: "text/plain",
  py: "text/x-python",
  sh: "text/x-shellscript",
  pdf: "application/pdf",
  zip: "application/zip",
  gz: "application/gzip",
  tar: "application/x-tar",
  wasm: "application/wasm",
  mp3: "audio/mpeg",
  wav: "audio/wav",
  mp4: "video/mp4",
};

/** Formats recognised by their first bytes; these win over the file name. */
const MAGIC: Array<{ mime: string; test: (b: Buffer) => boolean }> = [
  { mime: "image/png", test: (b) => b.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE) },
  { mime: "image/jpeg", test: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { mime: "image/gif", test: (b) => ["GIF87a", "GIF89a"].includes(b.subarray(0, 6).toString("latin1")) },
  {
    mime: "image/webp",
    test: (b) => b.subarray(0, 4).toString("latin1") === "RIFF" && b.subarray(8, 12).toString("latin1") === "WEBP",
  },
  { mime: "image/bmp", test: (b) => b.subarray(0, 2).toString("latin1") === "BM" && b.length >= 26 },
  { mime: "application/pdf", test: (b) => b.subarray(0, 5).toString("latin1") === "%PDF-" },
  { mime: "application/zip", test: (b) => b.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04])) },
  { mime: "application/gzip", test: (b) => b[0] === 0x1f && b[1] === 0x8b },
  { mime: "application/wasm", test: (b) => b.subarray(0, 4).equals(Buffer.from([0x00, 0x61, 0x73, 0x6d])) },
];

/** Binary formats whose name alone is not trusted: a `.png` that is not a PNG is not an image. */
const NEEDS_MAGIC = new Set([
  "image/png",
  "image/jpeg",
  "image/gif",
  "image/webp",
  "image/bmp",
  "application/pdf",
  "application/zip",
  "application/gzip",
  "application/wasm",
]);

function looksLikeText(head: Buffer): boolean {
  if (head.includes(0)) return false;
  const whole = head.subarray(0, completeUtf8Length(head));
  return Buffer.from(whole.toString("utf8"), "utf8").equals(whole);
}

/** How many of a file's first bytes callers hand to sniffMimeType. */
export const SNIFF_BYTES = 512;

/**
 * The MIME type of a file from its first bytes and its name: magic numbers first, then the
 * extension, then a text check; `application/octet-stream` when nothing fits.
 */
export function sniffMimeType(filePath: string, head: Buffer): string {
  for (const m of MAGIC) if (m.test(head)) return m.mime;
  const base = filePath.slice(filePath.lastIndexOf("/") + 1);
  const dot = base.lastIndexOf(".");
  const byName = dot > 0 ? BY_EXTENSION[base.slice(dot + 1).toLowerCase()] : undefined;
  if (byName && !NEEDS_MAGIC.has(byName)) return byName;
  if (head.length > 0 && looksLikeText(head)) {
    const start = head.subarray(0, 256).toString("utf8").trimStart().toLowerCase();
    if (start.startsWith("<svg") || (start.startsWith("<?xml") && head.toString("utf8").toLowerCase().includes("<svg")))
      return "image/svg+xml";
    return "text/plain";
  }
  return "application/octet-stream";
}
