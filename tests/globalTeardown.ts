/** Ends what globalSetup started: the pwsh host broker and its hosts. */
import type { Broker } from "./pwsh/hostBroker";

export default async function globalTeardown(): Promise<void> {
  const holder = globalThis as { identityLabBroker?: Broker };
  await holder.identityLabBroker?.close();
  holder.identityLabBroker = undefined;
}
