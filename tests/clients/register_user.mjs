// Uses only the generated TypeScript client (clients/ts) and @solana/kit: initializes the
// registry with the deployer key (the programs' upgrade authority), registers a new wallet
// as a consumer, reads the User account back, and prints the result as one JSON line.
// usage: node register_user.mjs RPC_URL DEPLOYER_KEYPAIR_JSON
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../clients/ts/package.json', import.meta.url));
const kit = require('@solana/kit');
const { registry } = require('../../clients/ts/dist/index.js');

const [url, deployerPath] = process.argv.slice(2);
const rpc = kit.createSolanaRpc(url);

async function fund(address) {
  await rpc.requestAirdrop(address, kit.lamports(10_000_000_000n)).send();
}

async function send(feePayer, instructions) {
  const { value: blockhash } = await rpc.getLatestBlockhash().send();
  const message = kit.pipe(
    kit.createTransactionMessage({ version: 0 }),
    (m) => kit.setTransactionMessageFeePayerSigner(feePayer, m),
    (m) => kit.setTransactionMessageLifetimeUsingBlockhash(blockhash, m),
    (m) => kit.appendTransactionMessageInstructions(instructions, m),
  );
  const signed = await kit.signTransactionMessageWithSigners(message);
  const signature = await rpc
    .sendTransaction(kit.getBase64EncodedWireTransaction(signed), { encoding: 'base64' })
    .send();
  for (let i = 0; i < 100; i++) {
    const { value: [status] } = await rpc.getSignatureStatuses([signature]).send();
    if (status) {
      if (status.err) throw new Error(`transaction ${signature} failed: ${JSON.stringify(status.err, (_, v) => typeof v === 'bigint' ? String(v) : v)}`);
      return signature;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`transaction ${signature} not confirmed`);
}

const deployer = await kit.createKeyPairSignerFromBytes(new Uint8Array(JSON.parse(readFileSync(deployerPath, 'utf8'))));
const wallet = await kit.generateKeyPairSigner();
await fund(deployer.address);
await fund(wallet.address);

// PDAs (config, user) and fixed addresses (program_data, system program) come from the IDL.
await send(deployer, [await registry.getInitializeInstructionAsync({ authority: deployer, oracleAuthority: deployer.address })]);
const signature = await send(wallet, [
  await registry.getRegisterUserInstructionAsync({ wallet, userType: registry.UserType.Consumer }),
]);
const [userAddress] = await registry.findUserPda({ wallet: wallet.address });
const user = await registry.fetchUser(rpc, userAddress);
console.log(JSON.stringify({
  signature,
  wallet: wallet.address,
  user: userAddress,
  userType: registry.UserType[user.data.userType],
  status: registry.UserStatus[user.data.status],
  registeredAt: String(user.data.registeredAt),
}));
