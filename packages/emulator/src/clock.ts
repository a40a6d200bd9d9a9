import { InvalidArgumentError } from '@podnet/core';
import type { ClockView } from './hooks.js';

/**
 * The emulator's time, in seconds. Nothing advances it but `advance`: bridge FDB ageing,
 * neighbour and conntrack timeouts all read it, so a test decides exactly when time passes.
 */
export class VirtualClock implements ClockView {
  private t = 0;

  now(): number {
    return this.t;
  }

  /** Move time forward by `seconds` (≥ 0). */
  advance(seconds: number): void {
    if (!Number.isFinite(seconds) || seconds < 0) {
      throw new InvalidArgumentError('seconds', `clock.advance needs a finite number ≥ 0, got ${seconds}`);
    }
    this.t += seconds;
  }
}
