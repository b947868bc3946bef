/** Pieces every operator API route schema uses. */

/** A reference to a shared schema registered under `id`. */
export const ref = (id: string) => ({ $ref: `${id}#` }) as const;

/** The bearer-token security requirement of an authenticated route. */
export const bearer = [{ bearer: [] }];

/** `ErrorBody` answers for each of `statuses`, to spread into a route's `response`. */
export function errorResponses(statuses: readonly number[]): Record<number, ReturnType<typeof ref>> {
  return Object.fromEntries(statuses.map((s) => [s, ref("ErrorBody")]));
}
