/**
 * Text from outside (a manifest's paths, a server's or a peer's error messages) printed on
 * a terminal: control characters (C0, DEL, C1: escapes that clear the screen or set the
 * window title, newlines that forge output lines) and bidirectional overrides (U+202E
 * turns `exe.txt` into `txt.exe` on screen) are shown as escapes instead. `--json` output
 * needs none of this: JSON escapes control characters itself.
 *
 * @module
 */

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every control and bidi character written as `\xNN` or `\u{NNNN}`. */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.codePointAt(0)!;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}
