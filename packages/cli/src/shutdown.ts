const tasks: Array<() => Promise<void>> = [];
let shuttingDown = false;

/** Runs the given cleanup on SIGINT/SIGTERM (once), then exits. */
export function onShutdown(task: () => Promise<void>): void {
  tasks.push(task);
  if (tasks.length > 1) return;
  const stop = (signal: NodeJS.Signals) => {
    if (shuttingDown) return;
    shuttingDown = true;
    const timer = setTimeout(() => process.exit(1), 10_000);
    timer.unref();
    Promise.allSettled(tasks.map((run) => run())).then(() => process.exit(signal === "SIGINT" ? 130 : 0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  // A parent that started us over IPC and then vanished must not leave us running.
  process.once("disconnect", () => stop("SIGTERM"));
}
