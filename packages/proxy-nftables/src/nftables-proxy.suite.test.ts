import { bridge } from '@podnet/bridge';
import { describeServiceProxy } from '@podnet/core/testing';
import { emulator } from '@podnet/emulator';
import { vxlan } from '@podnet/overlay-vxlan';
import { nftablesProxy } from './nftables-proxy.js';

describeServiceProxy({
  proxy: () => nftablesProxy(),
  podNetwork: () => bridge(),
  overlay: () => vxlan(),
  backend: () => emulator(),
});
