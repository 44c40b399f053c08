#!/usr/bin/env node
// Entry point of the worker: TypeScript sources run through tsx's loader.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/main.ts");
await main();
