/** Messages published within this window after a first one leave in the same answer or frame (Push server 2.0). */
export const BATCH_WINDOW_MS = 400;
