/**
 * Concurrent fetching with in-order delivery and bounded memory, independent of HTTP.
 *
 * The ranges of one `read()` are cut into pieces. A {@link Job} (one logical request, retried
 * as a whole) takes a run of consecutive pieces; up to `concurrency` jobs run at once. Jobs
 * write bytes by resource offset into their pieces as they arrive, in any order; the consumer
 * drains pieces strictly in order. Bytes received but not yet handed to the consumer are
 * bounded by `maxBytesInFlight`: a job reserves its bytes when it starts, and does not start
 * while the reservation would pass the budget unless nothing is reserved. A *streaming* job
 * (a whole-body download) instead reserves as it receives and waits for room.
 *
 * Each job has its own AbortSignal. When the read ends (the consumer got every byte, stopped
 * early, a job failed, or the caller aborted), only the jobs still missing bytes are aborted:
 * a job whose bytes are all in may still be reading the tail of its response (a multipart
 * closing boundary, a few bytes past the last range), and aborting it would kill a
 * keep-alive connection that is about to be free.
 *
 * @module
 */

import { abortError } from '../../core/errors.js';
import type { ByteRange } from '../../core/block-source.js';

/** A part of a requested range: the unit of ordering and of delivery. */
export class Piece implements ByteRange {
  /** The first offset not received yet (`end` once complete). */
  next: number;
  /** Received bytes not yet handed to the consumer, as views of response chunks. */
  readonly chunks: Uint8Array[] = [];
  /** True when the bytes were reserved against the budget when the job started. */
  reserved = false;
  /** The job that fills this piece. */
  job: Job | undefined;

  constructor(
    readonly start: number,
    readonly end: number,
  ) {
    this.next = start;
  }

  /** True once every byte has been received. */
  get complete(): boolean {
    return this.next === this.end;
  }
}

/** How the scheduler forms jobs and runs them. */
export interface SchedulerPolicy {
  /** Maximum jobs running at once. */
  readonly concurrency: number;
  /** Budget for received but undelivered bytes. */
  readonly maxBytesInFlight: number;
  /**
   * Decides the next job: how many of the pending pieces from `first` on it takes (at least 1),
   * and whether it streams (reserves as it receives) rather than reserving up front.
   */
  plan(pieces: readonly Piece[], first: number): { count: number; streaming: boolean };
  /** Fetches the job's pieces; resolves once all are complete, rejects to fail the read. */
  run(job: Job): Promise<void>;
}

/**
 * One logical request over a sorted run of pieces. Fetch code writes received bytes with
 * {@link Job.write} and asks {@link Job.missing} what to re-request after a failure.
 */
export class Job {
  readonly #scheduler: RangeScheduler;
  readonly #pieces: Piece[];
  readonly #controller = new AbortController();
  #streaming: boolean;
  /** Bytes of this job's unreserved pieces received but not delivered. */
  buffered = 0;
  /** Bytes received so far (for "did the last attempt make progress"). */
  received = 0;
  #firstIncomplete = 0;

  /** @internal created by the scheduler */
  constructor(scheduler: RangeScheduler, pieces: Piece[], streaming: boolean) {
    this.#scheduler = scheduler;
    this.#pieces = pieces;
    this.#streaming = streaming;
    for (const piece of pieces) piece.job = this;
  }

  /**
   * Aborts when the read ends (failure, abort, or the consumer stopped early) while this job
   * still misses bytes. A complete job's signal never aborts: its request may finish reading
   * its response so the connection can be reused.
   */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** @internal called by the scheduler when the read ends */
  cancel(reason: unknown): void {
    if (!this.#controller.signal.aborted && !this.complete) this.#controller.abort(reason);
  }

  /** True for a whole-body job that reserves memory as it receives. */
  get streaming(): boolean {
    return this.#streaming;
  }

  /** True once every piece is complete. */
  get complete(): boolean {
    return this.#advance() === this.#pieces.length;
  }

  /** The still-missing part of each incomplete piece, in order. */
  missing(): ByteRange[] {
    const out: ByteRange[] = [];
    for (let i = this.#advance(); i < this.#pieces.length; i++) {
      const piece = this.#pieces[i]!;
      if (!piece.complete) out.push({ start: piece.next, end: piece.end });
    }
    return out;
  }

  /** One range from the first missing byte to the end of the last incomplete piece. */
  span(): ByteRange {
    const first = this.#pieces[this.#advance()];
    let last = this.#pieces.length - 1;
    while (last >= 0 && this.#pieces[last]!.complete) last--;
    if (first === undefined || last < 0) throw new Error('span() of a complete job');
    return { start: first.next, end: this.#pieces[last]!.end };
  }

  /** True when every byte of `range` that belongs to this job's pieces has been received. */
  has(range: ByteRange): boolean {
    for (let i = this.#search(range.start); i < this.#pieces.length; i++) {
      const piece = this.#pieces[i]!;
      if (piece.start >= range.end) break;
      if (piece.next < Math.min(piece.end, range.end)) return false;
    }
    return true;
  }

  /**
   * Records bytes of the resource that start at `offset`. Only the bytes that continue an
   * incomplete piece exactly where it stopped are kept (as views); everything else (bytes not
   * asked for, bytes already received) is ignored. Returns the number of bytes kept.
   */
  write(offset: number, chunk: Uint8Array): number {
    const end = offset + chunk.length;
    let kept = 0;
    for (let i = this.#search(offset); i < this.#pieces.length; i++) {
      const piece = this.#pieces[i]!;
      if (piece.start >= end) break;
      if (piece.next < offset || piece.next >= end || piece.complete) continue;
      const take = Math.min(piece.end, end) - piece.next;
      piece.chunks.push(chunk.subarray(piece.next - offset, piece.next - offset + take));
      piece.next += take;
      kept += take;
      if (!piece.reserved) this.buffered += take;
      this.#scheduler.received(piece, take);
    }
    this.received += kept;
    return kept;
  }

  /** Takes over every piece no job has started yet, and becomes a streaming job. */
  absorbRemaining(): void {
    const pieces = this.#scheduler.takeRemaining();
    for (const piece of pieces) {
      piece.job = this;
      this.#pieces.push(piece);
    }
    if (pieces.length > 0) this.#streaming = true;
  }

  /**
   * Moves this job's incomplete pieces to `other`, a job already streaming the whole body
   * from before them, so one download serves both. This job is then complete.
   */
  handOverTo(other: Job): void {
    if (this.#streaming || other === this) throw new Error('only a non-streaming job can hand over its pieces');
    const moving = this.#pieces.filter((piece) => !piece.complete);
    this.#pieces.length = 0;
    this.#firstIncomplete = 0;
    other.#adopt(moving);
  }

  #adopt(pieces: readonly Piece[]): void {
    for (const piece of pieces) piece.job = this;
    this.#pieces.push(...pieces);
    this.#pieces.sort((a, b) => a.start - b.start);
    this.#firstIncomplete = 0;
  }

  /** For streaming jobs: waits while the undelivered bytes exceed the budget. */
  async waitForRoom(): Promise<void> {
    await this.#scheduler.waitForRoom(this);
  }

  /** Index of the first piece whose end is past `offset`. */
  #search(offset: number): number {
    let lo = this.#firstIncomplete;
    let hi = this.#pieces.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#pieces[mid]!.end <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #advance(): number {
    while (this.#firstIncomplete < this.#pieces.length && this.#pieces[this.#firstIncomplete]!.complete) this.#firstIncomplete++;
    return this.#firstIncomplete;
  }
}

/**
 * Runs the jobs of one read and yields the bytes in order. Create one per `read()` call,
 * iterate {@link RangeScheduler.chunks}, and always `await close()` afterwards.
 */
export class RangeScheduler {
  readonly #pieces: Piece[];
  readonly #policy: SchedulerPolicy;
  readonly #controller = new AbortController();
  readonly #userSignal: AbortSignal | undefined;
  readonly #onUserAbort = (): void => this.#fail(abortError(this.#userSignal!));
  readonly #running = new Set<Promise<void>>();
  /** The jobs of {@link #running}. */
  readonly #jobs = new Set<Job>();
  #next = 0;
  #head = 0;
  #reserved = 0;
  #closed = false;
  #failed = false;
  #failure: unknown;
  #wake: (() => void) | undefined;
  #woken: Promise<void> | undefined;

  /**
   * @param pieces the pieces of the read, sorted and non-overlapping
   * @param policy job formation and execution
   * @param signal the caller's AbortSignal
   */
  constructor(pieces: Piece[], policy: SchedulerPolicy, signal?: AbortSignal) {
    this.#pieces = pieces;
    this.#policy = policy;
    this.#userSignal = signal;
    signal?.addEventListener('abort', this.#onUserAbort, { once: true });
    if (signal?.aborted) this.#onUserAbort();
  }

  /** Aborted when the read ends for any reason (jobs have their own {@link Job.signal}). */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Bytes currently reserved or buffered against the budget. */
  get reservedBytes(): number {
    return this.#reserved;
  }

  /** Yields every piece's bytes in order; rejects with the first job failure. */
  async *chunks(): AsyncGenerator<Uint8Array, void, undefined> {
    this.#pump();
    for (;;) {
      if (this.#failed) throw this.#failure;
      const piece = this.#pieces[this.#head];
      if (piece === undefined) return;
      const chunk = piece.chunks.shift();
      if (chunk !== undefined) {
        this.#release(piece, chunk.length);
        yield chunk;
      } else if (piece.complete) {
        this.#head++;
      } else {
        await this.#changed();
      }
    }
  }

  /** Starts more jobs if the policy now allows more at once (its concurrency went up). */
  refresh(): void {
    this.#pump();
  }

  /** Cancels the running jobs that still miss bytes and waits for every job to settle. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#userSignal?.removeEventListener('abort', this.#onUserAbort);
    this.#abort(new Error('the read ended'));
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  /** @internal called by {@link Job.write} */
  received(piece: Piece, bytes: number): void {
    if (!piece.reserved) this.#reserved += bytes;
    if (piece === this.#pieces[this.#head]) this.#notify();
  }

  /** @internal called by {@link Job.absorbRemaining} */
  takeRemaining(): Piece[] {
    const taken = this.#pieces.slice(this.#next);
    this.#next = this.#pieces.length;
    return taken;
  }

  /** @internal called by {@link Job.waitForRoom} */
  async waitForRoom(job: Job): Promise<void> {
    while (this.#reserved > this.#policy.maxBytesInFlight && job.buffered > 0 && !this.signal.aborted) await this.#changed();
  }

  #release(piece: Piece, bytes: number): void {
    this.#reserved -= bytes;
    if (!piece.reserved && piece.job !== undefined) piece.job.buffered -= bytes;
    this.#pump();
    this.#notify();
  }

  /** Starts jobs while connections and budget allow. */
  #pump(): void {
    const { concurrency, maxBytesInFlight } = this.#policy;
    while (!this.#closed && !this.#failed && this.#next < this.#pieces.length && this.#running.size < concurrency) {
      const { count, streaming } = this.#policy.plan(this.#pieces, this.#next);
      const pieces = this.#pieces.slice(this.#next, this.#next + Math.max(1, count));
      if (!streaming) {
        const bytes = pieces.reduce((sum, p) => sum + (p.end - p.start), 0);
        if (this.#reserved > 0 && this.#reserved + bytes > maxBytesInFlight) return;
        this.#reserved += bytes;
        for (const piece of pieces) piece.reserved = true;
      }
      this.#next += pieces.length;
      this.#start(new Job(this, pieces, streaming));
    }
  }

  #start(job: Job): void {
    this.#jobs.add(job);
    const run = this.#policy.run(job).then(
      () => {
        if (!job.complete) this.#fail(new Error('internal error: a fetch job ended before receiving all its bytes'));
      },
      (error: unknown) => this.#fail(error),
    );
    const settled = run.finally(() => {
      this.#running.delete(settled);
      this.#jobs.delete(job);
      this.#pump();
      this.#notify();
    });
    this.#running.add(settled);
  }

  #fail(error: unknown): void {
    if (!this.#failed && !this.#closed) {
      this.#failed = true;
      this.#failure = error;
    }
    this.#abort(error);
    this.#notify();
  }

  /** Aborts the read, and every running job that still misses bytes. */
  #abort(reason: unknown): void {
    if (!this.#controller.signal.aborted) this.#controller.abort(reason);
    for (const job of this.#jobs) job.cancel(reason);
  }

  #changed(): Promise<void> {
    this.#woken ??= new Promise<void>((resolve) => (this.#wake = resolve));
    return this.#woken;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    this.#woken = undefined;
    wake?.();
  }
}
