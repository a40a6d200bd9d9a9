export type { Command, ParsedCommand } from './command.js';
export { EXIT } from './command.js';
export { commands } from './commands/index.js';
export { bufferIo, type CliIo, processIo } from './io.js';
export { main } from './main.js';
