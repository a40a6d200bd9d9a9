import { bridge } from '@podnet/bridge';
import { describeOverlayBackend } from '@podnet/core/testing';
import { emulator } from '@podnet/emulator';
import { vxlan } from '../src/index.js';

describeOverlayBackend({ overlay: () => vxlan(), podNetwork: () => bridge(), backend: () => emulator() });
describeOverlayBackend({ name: 'vxlan (directRouting)', overlay: () => vxlan({ directRouting: true }), podNetwork: () => bridge(), backend: () => emulator() });
