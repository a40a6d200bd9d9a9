import { bridge } from '@podnet/bridge';
import { describeOverlayBackend } from '@podnet/core/testing';
import { emulator } from '@podnet/emulator';
import { hostGw } from '../src/index.js';
import { proxyArp } from './proxy-arp-backend.js';

describeOverlayBackend({ overlay: () => hostGw(), podNetwork: () => bridge(), backend: () => emulator() });
describeOverlayBackend({ overlay: () => proxyArp(), podNetwork: () => bridge(), backend: () => emulator() });
