// The overlay's errors, told apart by `.name`.

export class OverlayError extends Error {
  static readonly NAME: string = 'OverlayError'
  override name: string = OverlayError.NAME
}

/** Every candidate in 10.30.0.0/16 is taken. */
export class AddressRangeExhaustedError extends OverlayError {
  static override readonly NAME: string = 'AddressRangeExhaustedError'
  override name: string = AddressRangeExhaustedError.NAME
}

/** The hosting peer answered `{ ok: false }`: it hosts no RUNNING instance for that IP and port. */
export class OverlayRefusedError extends OverlayError {
  static override readonly NAME: string = 'OverlayRefusedError'
  override name: string = OverlayRefusedError.NAME
}

/** A header or answer on an overlay stream was malformed, too large or too late. */
export class OverlayProtocolError extends OverlayError {
  static override readonly NAME: string = 'OverlayProtocolError'
  override name: string = OverlayProtocolError.NAME
}

/** A flow was closed on purpose: its backend vanished from the routes, or the overlay stopped. */
export class FlowClosedError extends OverlayError {
  static override readonly NAME: string = 'FlowClosedError'
  override name: string = FlowClosedError.NAME
}
