// Posted and unexpected queues of one communicator context, and the one matching predicate.
// Wildcards exist only on the posted side (a receive may say ANY_SOURCE / ANY_TAG; a message never
// does). Both queues keep arrival order, which together with one connection per sending peer gives
// MPI's non-overtaking rule: between one pair of ranks, messages match in the order they were sent.
import { ANY_SOURCE, ANY_TAG } from '../constants.js';

export interface Envelope {
  /** World rank of the sender. */
  readonly source: number;
  readonly tag: number;
}

export interface Pattern {
  /** World rank, or ANY_SOURCE. */
  readonly source: number;
  /** Tag, or ANY_TAG. */
  readonly tag: number;
}

export function matches(pattern: Pattern, message: Envelope): boolean {
  return (pattern.source === ANY_SOURCE || pattern.source === message.source)
    && (pattern.tag === ANY_TAG || pattern.tag === message.tag);
}

interface Node<T> { value: T; next: Node<T> | undefined; prev: Node<T> | undefined }

/** An arrival-ordered list with O(1) removal of any element, searched front to back. */
export class OrderedQueue<T> {
  private head: Node<T> | undefined;
  private tail: Node<T> | undefined;
  private count = 0;

  get length(): number { return this.count; }

  push(value: T): void {
    const node: Node<T> = { value, next: undefined, prev: this.tail };
    if (this.tail) this.tail.next = node; else this.head = node;
    this.tail = node;
    this.count++;
  }

  /** Removes and returns the first element satisfying `accept`. */
  take(accept: (value: T) => boolean): T | undefined {
    for (let n = this.head; n; n = n.next) {
      if (accept(n.value)) {
        this.unlink(n);
        return n.value;
      }
    }
    return undefined;
  }

  /** Returns the first element satisfying `accept`, leaving it queued. */
  find(accept: (value: T) => boolean): T | undefined {
    for (let n = this.head; n; n = n.next) if (accept(n.value)) return n.value;
    return undefined;
  }

  remove(value: T): boolean {
    for (let n = this.head; n; n = n.next) {
      if (n.value === value) {
        this.unlink(n);
        return true;
      }
    }
    return false;
  }

  /** Removes every element satisfying `accept`, returning them in order. */
  drain(accept: (value: T) => boolean): T[] {
    const out: T[] = [];
    for (let n = this.head, next: Node<T> | undefined; n; n = next) {
      next = n.next;
      if (accept(n.value)) {
        this.unlink(n);
        out.push(n.value);
      }
    }
    return out;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let n = this.head; n; n = n.next) yield n.value;
  }

  private unlink(n: Node<T>): void {
    if (n.prev) n.prev.next = n.next; else this.head = n.next;
    if (n.next) n.next.prev = n.prev; else this.tail = n.prev;
    n.next = n.prev = undefined;
    this.count--;
  }
}

/** The two queues of one context. */
export class ContextQueues<P extends Pattern, M extends Envelope> {
  readonly posted = new OrderedQueue<P>();
  readonly unexpected = new OrderedQueue<M>();

  /** An arriving message: the earliest posted receive it satisfies, removed from the queue. */
  takePosted(message: M): P | undefined {
    return this.posted.take((p) => matches(p, message));
  }

  /** A new receive: the earliest unexpected message it accepts, removed from the queue. */
  takeUnexpected(pattern: Pattern): M | undefined {
    return this.unexpected.take((m) => matches(pattern, m));
  }

  peekUnexpected(pattern: Pattern): M | undefined {
    return this.unexpected.find((m) => matches(pattern, m));
  }
}
