import { describe, expect, it } from "vitest";
import { DeadlineQueue } from "../src/edge/deadlines.js";

const until = (pred: () => boolean): Promise<void> =>
  new Promise((resolve) => {
    const poll = (): void => (pred() ? resolve() : void setTimeout(poll, 5));
    poll();
  });

describe("shared deadlines", () => {
  it("one timer fires every member's deadline in turn, skips deleted members, and serves members added again", async () => {
    const fired: string[] = [];
    const queue = new DeadlineQueue<string>(20, (m) => {
      fired.push(m);
      if (m === "a" && fired.filter((x) => x === "a").length < 3) queue.add("a");
    });
    queue.add("a");
    queue.add("b");
    queue.add("c");
    queue.delete("b");
    await until(() => fired.filter((x) => x === "a").length === 3);
    expect(fired.slice(0, 2)).toEqual(["a", "c"]);
    expect(fired).not.toContain("b");
    expect(queue.size).toBe(0);
  });
});
