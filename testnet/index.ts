// testnet/: the local multi-peer testnet, driven through the grove CLI.
export {
  up, down, kill, restart, partition, heal, convergence, readTestnet, requireTestnet, findPeer, ownsPid, stopLeftInstances,
  TestnetError, TESTNET_FILE, type TestnetFile, type TestnetPeer, type UpOptions, type Isolation, type RuntimeChoice
} from './testnet.js'
