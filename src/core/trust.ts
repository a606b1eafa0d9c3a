// Pure: how a record reached a view (its provenance) and how far the view holds it as its origin's word (one ordered
// trust level): the view's rules compare levels instead of reading flags.

/**
 * How a message reached this view:
 * - origin: gossip signed by the origin's own key (the first hop checked the address it speaks from);
 * - vouched: the origin's own answer over an anti-entropy stream authenticated by its key;
 * - sealed: a third party's relay carrying the origin's seal over exactly this version;
 * - relayed: a third party's relay with no proof of what the origin said.
 */
export type Provenance = 'origin' | 'vouched' | 'sealed' | 'relayed'

/**
 * How a held record stands, in order: a relay's word only; the origin's word through a sealed relay; heard from the
 * origin's key itself; this agent's own record. A record of a lower level yields to one of a higher level.
 */
export const Trust = { Relayed: 0, Sealed: 1, FirstHand: 2, Self: 3 } as const
// a value and its type under one name (an enum without TypeScript's enum)
// eslint-disable-next-line @typescript-eslint/no-redeclare
export type Trust = typeof Trust[keyof typeof Trust]

/** The level a record taken by this provenance is held at. */
export function trustOf (via: Provenance): Trust {
  switch (via) {
    case 'origin':
    case 'vouched': return Trust.FirstHand
    case 'sealed': return Trust.Sealed
    case 'relayed': return Trust.Relayed
  }
}

/** The origin's word: its own message or answer, or a relay under its seal. */
export const isOriginsWord = (t: Trust): boolean => t >= Trust.Sealed
/** Heard from the origin's key itself (or this agent's own record). */
export const isFirstHand = (t: Trust): boolean => t >= Trust.FirstHand
