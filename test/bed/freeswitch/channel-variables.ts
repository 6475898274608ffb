/**
 * A channel's variables: the Map tests read, and the same variables as the `variable_*` headers of its events,
 * kept in step (Map order: a changed variable keeps its place, a new or re-set one goes last). The header list
 * handed to an event is never changed afterwards, and a variable keeps its header tuple while its value stays,
 * so the wire formats can cache what they made of an unchanged stretch of variables (esl-wire.ts).
 */
import { type Header, type JsonRun, VarList } from './event-templates.ts';

const PREFIX = 'variable_';

export class ChannelVariables {
  readonly map = new Map<string, string>();
  #headers: Header[] = [];
  #index = new Map<string, number>();
  /** The current list went out with an event (as #list): the next change copies it first. */
  #list: VarList | undefined;
  readonly #runs: JsonRun[] = [];

  get(name: string): string | undefined {
    return this.map.get(name);
  }

  /** `value` is not empty (an empty value unsets: `delete`). */
  set(name: string, value: string): void {
    if (this.map.get(name) === value) return;
    this.map.set(name, value);
    const list = this.#own();
    const tuple: Header = [PREFIX + name, value];
    const i = this.#index.get(name);
    if (i === undefined) {
      this.#index.set(name, list.length);
      list.push(tuple);
    } else list[i] = tuple;
  }

  delete(name: string): boolean {
    if (!this.map.delete(name)) return false;
    const list = this.#own();
    const i = this.#index.get(name)!;
    this.#index.delete(name);
    list.splice(i, 1);
    for (let j = i; j < list.length; j++) this.#index.set(list[j]![0].slice(PREFIX.length), j);
    return true;
  }

  /** The variables as event headers, as they are now. */
  headers(): VarList {
    this.#list ??= new VarList(this.#headers, this.#runs);
    return this.#list;
  }

  #own(): Header[] {
    if (this.#list) {
      this.#headers = this.#headers.slice();
      this.#list = undefined;
    }
    return this.#headers;
  }
}
