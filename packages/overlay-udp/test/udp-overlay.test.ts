import { bridge } from '@podnet/bridge';
import { describeOverlayBackend } from '@podnet/core/testing';
import { emulator } from '@podnet/emulator';
import { flannelUdpApp, udp } from '../src/index.js';

describeOverlayBackend({
  overlay: () => udp(),
  podNetwork: () => bridge(),
  backend: () => emulator(),
  apps: new Map([[flannelUdpApp.id, flannelUdpApp]]),
});
