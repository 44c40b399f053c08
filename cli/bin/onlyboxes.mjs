#!/usr/bin/env node
// Entry point of the CLI in the checkout: TypeScript sources run through tsx's loader.
// The published package is one bundled file instead (scripts/pack.mjs).
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/main.ts");
await main();
