import { SocketModeReceiver } from "@slack/bolt";
import type { Logger as SlackLogger } from "@slack/logger";
import type { WebClientOptions } from "@slack/web-api";

export interface SocketConnection {
  receiver: SocketModeReceiver;
  /** True while the WebSocket to Slack is open (for /healthz). */
  readonly connected: boolean;
}

/** The Socket Mode receiver, with its connection state tracked for /healthz. */
export function createSocketConnection(options: {
  appToken: string;
  clientOptions: WebClientOptions;
  logger: SlackLogger;
}): SocketConnection {
  let connected = false;
  const receiver = new SocketModeReceiver({
    appToken: options.appToken,
    logger: options.logger,
    // Without this, apps.connections.open ignores SLACK_API_URL.
    installerOptions: { clientOptions: options.clientOptions },
  });
  receiver.client.on("connected", () => {
    connected = true;
  });
  receiver.client.on("disconnected", () => {
    connected = false;
  });
  receiver.client.on("reconnecting", () => {
    connected = false;
  });
  return {
    receiver,
    get connected() {
      return connected;
    },
  };
}
