export { type HostGwOptions, hostGw } from './host-gw-backend.js';
