import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Virtuoso, type VirtuosoHandle } from "react-virtuoso";
import type { Message } from "../../../src/protocol.ts";
import type { PendingMessage } from "../apply-event.ts";
import { afterPaint } from "../app/after-paint.ts";
import { useChat } from "../app/chat-store.ts";
import { MessageRow, PreviewRow, type Item, type RowActions } from "./message-row.tsx";

/** Virtuoso's indexes only ever go down when older pages are prepended; start high. */
const BASE_INDEX = 1_000_000_000;
const GROUP_MS = 5 * 60_000;
/** Enough rows to fill a tall window while the list positions itself (see `positioned`). */
const PREVIEW_ROWS = 40;
const LIST_COMPONENTS = {
  Header: ({ context }: { context?: { reachedStart: boolean } }) => (
    <div className="list-head">{context?.reachedStart ? "This is the start of the room." : "Loading older messages…"}</div>
  ),
};

interface Props {
  messages: Message[];
  pending: PendingMessage[];
  myId: string;
  /** Messages above this seq were unread when the room opened. */
  lastReadSeq: number;
  reachedStart: boolean;
  jumpTo?: number;
  loadOlder: () => Promise<void>;
  onReadBottom: () => void;
  actions: RowActions;
}

const keyOf = (item: Item) =>
  item.kind === "message" ? `${item.message.author.id}:${item.message.clientMsgId}` : `${item.pending.author.id}:${item.pending.clientMsgId}`;
const computeItemKey = (_: number, item: Item) => keyOf(item);
// One item per message or pending object, reused while that object is unchanged: a memoized row
// then gets the same props and skips rendering when an older page or a new message arrives.
const itemOf = new WeakMap<Message | PendingMessage, Item>();
function messageItem(message: Message): Item {
  let item = itemOf.get(message);
  if (!item) itemOf.set(message, (item = { kind: "message", message }));
  return item;
}
function pendingItem(pending: PendingMessage): Item {
  let item = itemOf.get(pending);
  if (!item) itemOf.set(pending, (item = { kind: "pending", pending }));
  return item;
}
const authorOf = (item: Item) => (item.kind === "message" ? item.message.author.id : item.pending.author.id);
const timeOf = (item: Item) => Date.parse(item.kind === "message" ? item.message.createdAt : item.pending.createdAt);

/** The index of the first message with seq >= `seq` (messages ascend by seq), or -1. */
function firstAtOrAbove(messages: Message[], seq: number): number {
  let lo = 0;
  let hi = messages.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (messages[mid]!.seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo < messages.length ? lo : -1;
}

export function MessageList({ messages, pending, myId, lastReadSeq, reachedStart, jumpTo, loadOlder, onReadBottom, actions }: Props) {
  const connected = useChat((s) => s.connection === "connected");
  const virtuoso = useRef<VirtuosoHandle>(null);
  const [atBottom, setAtBottom] = useState(true);
  const [unseen, setUnseen] = useState(0);
  const loading = useRef(false);

  // Fixed at open: where the "new messages" line goes and what the list shows first.
  const opened = useRef<{ anchorSeq: number; firstUnreadSeq: number | null } | null>(null);
  if (!opened.current && messages.length > 0) {
    const firstUnread = messages.find((m) => m.seq > lastReadSeq && m.author.id !== myId);
    opened.current = { anchorSeq: messages[0]!.seq, firstUnreadSeq: firstUnread?.seq ?? null };
  }

  const items = useMemo<Item[]>(() => {
    const all = new Array<Item>(messages.length + pending.length);
    for (let i = 0; i < messages.length; i++) all[i] = messageItem(messages[i]!);
    for (let i = 0; i < pending.length; i++) all[messages.length + i] = pendingItem(pending[i]!);
    return all;
  }, [messages, pending]);
  const anchorSeq = opened.current?.anchorSeq ?? 0;
  const prepended = useMemo(() => Math.max(0, firstAtOrAbove(messages, anchorSeq)), [messages, anchorSeq]);
  const firstItemIndex = BASE_INDEX - prepended;

  const initialIndex = useMemo(() => {
    const target = jumpTo ?? opened.current?.firstUnreadSeq ?? null;
    const at = target === null ? -1 : messages.findIndex((m) => m.seq >= target);
    return at >= 0 ? { index: at, align: jumpTo ? ("center" as const) : ("start" as const) } : Math.max(0, items.length - 1);
    // Only the first render's value counts (Virtuoso reads it once).
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  // New messages of others while scrolled up: count them for the "new messages" button.
  const lastCount = useRef(messages.length);
  const lastNewest = useRef(messages.at(-1)?.seq ?? 0);
  useEffect(() => {
    const newest = messages.at(-1)?.seq ?? 0;
    if (!atBottom && newest > lastNewest.current) {
      setUnseen((n) => n + messages.filter((m) => m.seq > lastNewest.current && m.author.id !== myId).length);
    }
    lastNewest.current = newest;
    lastCount.current = messages.length;
  }, [messages, atBottom, myId]);

  // My own new message always brings the list to the bottom.
  const pendingCount = useRef(pending.length);
  useEffect(() => {
    if (pending.length > pendingCount.current) virtuoso.current?.scrollToIndex({ index: "LAST" });
    pendingCount.current = pending.length;
  }, [pending.length]);

  useEffect(() => {
    if (atBottom) {
      setUnseen(0);
      onReadBottom();
    }
  }, [atBottom, messages, onReadBottom]);

  // Virtuoso reports the start reached while it positions the list at mount; an older page
  // fetched then delays the first paint and re-renders under it. Older pages load only once the
  // reader has scrolled up (or when the list is too short to scroll at all).
  const scroller = useRef<HTMLElement | null>(null);
  const scrolledUp = useRef(false);
  const lastTop = useRef(Number.POSITIVE_INFINITY);
  const atTop = useRef(false);
  const startReached = useCallback(() => {
    atTop.current = true;
    const el = scroller.current;
    const scrollable = el ? el.scrollHeight > el.clientHeight + 1 : true;
    if (loading.current || reachedStart || (scrollable && !scrolledUp.current)) return;
    loading.current = true;
    void loadOlder().finally(() => {
      loading.current = false;
    });
  }, [loadOlder, reachedStart]);
  const latestStartReached = useRef(startReached);
  latestStartReached.current = startReached;
  // Stable, and reading no layout when attached (that would force one in the middle of the mount).
  const scrollerRef = useCallback((el: HTMLElement | Window | null) => {
    const node = el instanceof HTMLElement ? el : null;
    if (node === scroller.current) return;
    scroller.current = node;
    if (!node) return;
    let lastHeight = -1;
    node.addEventListener(
      "scroll",
      () => {
        // Up by the reader: the top moved up while the content kept its height (Virtuoso's
        // own corrections while it measures rows change the height as they move the top).
        const top = node.scrollTop;
        const height = node.scrollHeight;
        const up = top < lastTop.current - 1 && height === lastHeight;
        lastTop.current = top;
        lastHeight = height;
        if (!up || scrolledUp.current) return;
        scrolledUp.current = true;
        if (atTop.current) latestStartReached.current();
      },
      { passive: true },
    );
  }, []);

  // Opening at the bottom, Virtuoso keeps its list hidden for a few frames while it measures and
  // scrolls there (visibility: hidden until the initial item's final place is reached), which on a
  // slow CPU is a few hundred ms after the rows are in the DOM. Until then a plain, bottom-aligned
  // copy of the newest rows is shown in its place, so the room's first paint has its messages.
  const opensAtBottom = typeof initialIndex === "number";
  const [positioned, setPositioned] = useState(!opensAtBottom);
  // With the copy shown, the list itself mounts after that first paint (a render of its own).
  const [listMounted, setListMounted] = useState(positioned);
  useEffect(() => {
    if (!listMounted) afterPaint(() => setListMounted(true), 100);
  }, [listMounted]);
  const previewedItems = useRef(items);
  // Anything new (a message, my own pending one) and the copy is stale: the list takes over.
  if (!positioned && items !== previewedItems.current) setPositioned(true);
  useEffect(() => {
    if (positioned) return;
    let frame = 0;
    const started = performance.now();
    const poll = () => {
      const list = scroller.current?.querySelector<HTMLElement>('[data-testid="virtuoso-item-list"]');
      if ((list && list.style.visibility !== "hidden") || performance.now() - started > 1_500) setPositioned(true);
      else frame = requestAnimationFrame(poll);
    };
    frame = requestAnimationFrame(poll);
    return () => cancelAnimationFrame(frame);
  }, [positioned]);

  // A row once drawn with its author's name keeps it: when an older page lands above, regrouping
  // would shrink the row and move everything below it (the reader's place).
  const withHead = useRef(new Set<string>());
  // The copy drawn until the list is positioned: the newest sent messages, grouped as the list groups them.
  const preview = useMemo(() => {
    if (positioned) return [];
    const from = Math.max(0, messages.length - PREVIEW_ROWS);
    return messages.slice(from).map((message, i) => {
      const prev = messages[from + i - 1];
      const grouped = Boolean(prev && prev.author.id === message.author.id && Date.parse(message.createdAt) - Date.parse(prev.createdAt) < GROUP_MS);
      return { message, grouped };
    });
  }, [messages, positioned]);

  const itemContent = useCallback(
    (index: number, item: Item) => {
      const prev = items[index - firstItemIndex - 1];
      const key = keyOf(item);
      const grouped =
        !withHead.current.has(key) && Boolean(prev && authorOf(prev) === authorOf(item) && timeOf(item) - timeOf(prev) < GROUP_MS);
      if (!grouped) withHead.current.add(key);
      const seq = item.kind === "message" ? item.message.seq : undefined;
      const marker = seq !== undefined && seq === opened.current?.firstUnreadSeq;
      return (
        <MessageRow
          item={item}
          grouped={grouped && !marker}
          mine={authorOf(item) === myId}
          myId={myId}
          unreadMarker={marker}
          highlighted={seq !== undefined && seq === jumpTo}
          actions={actions}
          offline={item.kind === "pending" && !connected}
        />
      );
    },
    [items, firstItemIndex, myId, jumpTo, actions, connected],
  );

  if (items.length === 0) {
    return (
      <div className="list-empty">
        <p>No messages yet. Say hello!</p>
      </div>
    );
  }

  return (
    <div className="list-wrap">
      {!positioned && (
        <div className="list-preview" aria-hidden="true">
          {preview.map(({ message, grouped }) => (
            <PreviewRow key={message.id} message={message} grouped={grouped} />
          ))}
        </div>
      )}
      {listMounted && (
      <Virtuoso
        ref={virtuoso}
        className="message-list"
        data={items}
        firstItemIndex={firstItemIndex}
        initialTopMostItemIndex={initialIndex}
        computeItemKey={computeItemKey}
        itemContent={itemContent}
        startReached={startReached}
        atTopStateChange={(top) => {
          atTop.current = top;
        }}
        scrollerRef={scrollerRef}
        followOutput={(bottom) => (bottom ? "auto" : false)}
        atBottomStateChange={setAtBottom}
        atBottomThreshold={80}
        increaseViewportBy={{ top: 800, bottom: 200 }}
        context={{ reachedStart }}
        components={LIST_COMPONENTS}
      />
      )}
      {!atBottom && unseen > 0 && (
        <button type="button" className="new-below" onClick={() => virtuoso.current?.scrollToIndex({ index: "LAST", behavior: "smooth" })}>
          ↓ {unseen} new {unseen === 1 ? "message" : "messages"}
        </button>
      )}
    </div>
  );
}
