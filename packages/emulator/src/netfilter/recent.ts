/** The `-m recent` address lists of one namespace (xt_recent: /proc/net/xt_recent/NAME). */

/** ip_list_tot: entries per list before the oldest is evicted. */
export const RECENT_LIST_MAX = 200;
/** ip_pkt_list_tot: timestamps kept per entry. */
export const RECENT_STAMPS_MAX = 20;

export interface RecentEntry {
  /** Virtual-clock seconds of the last hits, oldest first. */
  stamps: number[];
  ttl: number;
}

export class RecentStore {
  private readonly lists = new Map<string, Map<string, RecentEntry>>();

  list(name: string): Map<string, RecentEntry> {
    let l = this.lists.get(name);
    if (!l) {
      l = new Map();
      this.lists.set(name, l);
    }
    return l;
  }

  names(): string[] {
    return [...this.lists.keys()];
  }

  /** Entries of a list as `/proc/net/xt_recent/NAME` shows them (address and last seen). */
  entries(name: string): { address: string; last: number; hits: number }[] {
    const l = this.lists.get(name);
    if (!l) return [];
    return [...l].map(([address, e]) => ({
      address,
      last: e.stamps[e.stamps.length - 1] ?? 0,
      hits: e.stamps.length,
    }));
  }

  /** Drops lists no rule refers to any more (the kernel frees a table with its last rule). */
  retain(names: Set<string>): void {
    for (const n of [...this.lists.keys()]) if (!names.has(n)) this.lists.delete(n);
  }

  clear(name?: string): void {
    if (name === undefined) this.lists.clear();
    else this.lists.get(name)?.clear();
  }
}
