import type { Command } from '../command.js';
import { demo } from './demo.js';
import { dig } from './dig.js';
import { get } from './get.js';
import { down, exec, status, up } from './lifecycle.js';
import { render } from './render.js';
import { serve } from './serve.js';
import { trace } from './trace.js';
import { validate } from './validate.js';

/** Every subcommand, in the order `podnet --help` lists them. One explicit list, no side effects. */
export const commands: Command[] = [validate, get, render, trace, dig, serve, up, exec, status, down, demo];
