import type { Libp2p } from "@libp2p/interface";
import type { Identity, Logger, NodeCapabilities } from "@opengateway/protocol";
import { createCapabilityAdvert, silentLogger, utf8Encode } from "@opengateway/protocol";
import { ADVERT_TOPIC, DEFAULT_ADVERT_INTERVAL_MS, DEFAULT_ADVERT_TTL_MS } from "./constants.js";
import type { NetworkServices } from "./create-libp2p-node.js";

export interface AdvertPublisherOptions {
  identity: Identity;
  /** Called for every advert, so load figures are current. */
  getCapabilities: () => NodeCapabilities;
  intervalMs?: number;
  ttlMs?: number;
  /** Where a failed publication is logged (the next one follows on the interval). */
  logger?: Logger;
}

/**
 * Gossips this provider's signed capability advert on a fixed interval (and on demand), with the
 * addresses peers can dial it at. Adverts expire, so a provider that vanishes drops out of every
 * routing table without anyone having to notice its death.
 */
export class AdvertPublisher {
  readonly #node: Libp2p<NetworkServices>;
  readonly #options: AdvertPublisherOptions;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(node: Libp2p<NetworkServices>, options: AdvertPublisherOptions) {
    this.#node = node;
    this.#options = options;
  }

  start(): void {
    this.#node.services.pubsub.subscribe(ADVERT_TOPIC);
    this.#timer = setInterval(() => void this.publish(), this.#options.intervalMs ?? DEFAULT_ADVERT_INTERVAL_MS);
    this.#timer.unref?.();
    // Also announce as soon as a peer subscribes, rather than waiting a whole interval.
    this.#node.services.pubsub.addEventListener("subscription-change", this.#onSubscriptionChange);
    void this.publish();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#node.services.pubsub.removeEventListener("subscription-change", this.#onSubscriptionChange);
  }

  readonly #onSubscriptionChange = (
    event: CustomEvent<{ subscriptions: Array<{ topic: string; subscribe: boolean }> }>,
  ): void => {
    if (event.detail.subscriptions.some((subscription) => subscription.topic === ADVERT_TOPIC && subscription.subscribe)) {
      setTimeout(() => void this.publish(), 100).unref?.();
    }
  };

  async publish(): Promise<void> {
    try {
      const advert = createCapabilityAdvert(
        {
          capabilities: this.#options.getCapabilities(),
          addresses: this.#node.getMultiaddrs().map((address) => address.toString()),
          ttlMs: this.#options.ttlMs ?? DEFAULT_ADVERT_TTL_MS,
        },
        this.#options.identity,
      );
      await this.#node.services.pubsub.publish(ADVERT_TOPIC, utf8Encode(JSON.stringify(advert)));
    } catch (error) {
      (this.#options.logger ?? silentLogger).debug({ err: error }, "advert not published");
    }
  }
}
