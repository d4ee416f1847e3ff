/** A progress line on stderr: rewritten in place on a terminal, a line every few seconds otherwise (logs, CI). */
export class ProgressLine {
  readonly #stream: NodeJS.WriteStream;
  readonly #everyMs: number;
  #last = 0;
  #shown = "";

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.#stream = stream;
    this.#everyMs = stream.isTTY ? 200 : 5_000;
  }

  update(text: string, force = false): void {
    const now = Date.now();
    if (!force && now - this.#last < this.#everyMs) return;
    this.#last = now;
    this.#shown = text;
    this.#stream.write(this.#stream.isTTY ? `\r\x1b[2K${text}` : `${text}\n`);
  }

  done(text: string): void {
    this.#stream.write(this.#stream.isTTY ? `\r\x1b[2K${text}\n` : `${text}\n`);
    this.#shown = "";
  }

  get shown(): string {
    return this.#shown;
  }
}

const MB = 1e6;

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  if (seconds < 90) return `${Math.ceil(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** Reports a download: MB done of the total, the rate, and the time left at that rate. */
export function downloadProgress(label: string, line = new ProgressLine()) {
  const started = Date.now();
  let finished = false;
  return (progress: { downloadedBytes: number; totalBytes: number }): void => {
    if (finished) return;
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    const rate = progress.downloadedBytes / seconds;
    const left = rate > 0 ? (progress.totalBytes - progress.downloadedBytes) / rate : Number.POSITIVE_INFINITY;
    const percent = progress.totalBytes > 0 ? Math.floor((progress.downloadedBytes / progress.totalBytes) * 100) : 0;
    const text = `Downloading ${label}  ${(progress.downloadedBytes / MB).toFixed(1)} / ${(progress.totalBytes / MB).toFixed(1)} MB  ${percent}%  ${(rate / MB).toFixed(1)} MB/s  ${duration(left)} left`;
    if (progress.totalBytes > 0 && progress.downloadedBytes >= progress.totalBytes) {
      finished = true;
      line.done(`Downloaded ${label}  ${(progress.totalBytes / MB).toFixed(1)} MB in ${duration(seconds)}`);
    } else line.update(text);
  };
}

/**
 * Reports the registration's proof-of-work: hashes tried, the rate, and the expected total time
 * (2^bits hashes on average; the search is memoryless, so that estimate is the honest one).
 */
export function proofOfWorkProgress(difficultyBits: number, line = new ProgressLine()) {
  const started = Date.now();
  const expected = 2 ** difficultyBits;
  return {
    onProgress: (hashes: number): void => {
      const seconds = Math.max((Date.now() - started) / 1000, 0.001);
      const rate = hashes / seconds;
      const bar = Math.min(20, Math.floor((hashes / expected) * 20));
      line.update(
        `Registering: proof of work [${"#".repeat(bar)}${".".repeat(20 - bar)}] ${hashes.toLocaleString("en")} hashes, ${(rate / 1000).toFixed(0)} kH/s, about ${duration(expected / Math.max(rate, 1))} expected in all`,
      );
    },
    done: () => line.done(`Registered: proof of work done in ${duration((Date.now() - started) / 1000)}`),
  };
}
