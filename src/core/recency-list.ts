/** What the list links through: two fields on each member, so moving one costs no allocation. */
export interface RecencyLinks<T> {
  olderLink: T | null;
  newerLink: T | null;
  linked: boolean;
}

/**
 * Items ordered from least to most recently used, as an intrusive doubly linked list: touch,
 * remove and oldest are O(1) whatever the churn (a Set's delete-then-add leaves holes that its
 * iteration must step over).
 */
export class RecencyList<T extends RecencyLinks<T>> {
  private oldestItem: T | null = null;
  private newestItem: T | null = null;

  /** The least recently used item. */
  get oldest(): T | null {
    return this.oldestItem;
  }

  /** Makes `item` the most recently used, adding it if absent. */
  touch(item: T): void {
    if (item.linked) {
      if (this.newestItem === item) return;
      this.remove(item);
    }
    item.linked = true;
    item.olderLink = this.newestItem;
    item.newerLink = null;
    if (this.newestItem) this.newestItem.newerLink = item;
    else this.oldestItem = item;
    this.newestItem = item;
  }

  /** Moves `item` to the most recent end only if it is listed. */
  refresh(item: T): void {
    if (item.linked) this.touch(item);
  }

  remove(item: T): void {
    if (!item.linked) return;
    const { olderLink, newerLink } = item;
    if (olderLink) olderLink.newerLink = newerLink;
    else this.oldestItem = newerLink;
    if (newerLink) newerLink.olderLink = olderLink;
    else this.newestItem = olderLink;
    item.olderLink = item.newerLink = null;
    item.linked = false;
  }
}
