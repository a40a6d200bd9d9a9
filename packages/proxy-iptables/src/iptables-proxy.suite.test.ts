import { bridge } from '@podnet/bridge';
import { describeServiceProxy } from '@podnet/core/testing';
import { emulator } from '@podnet/emulator';
import { vxlan } from '@podnet/overlay-vxlan';
import { iptablesProxy } from './iptables-proxy.js';

describeServiceProxy({
  proxy: () => iptablesProxy(),
  podNetwork: () => bridge(),
  overlay: () => vxlan(),
  backend: () => emulator(),
});
