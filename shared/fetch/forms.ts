import { Parser } from 'htmlparser2';

/**
 * HTML forms read as a browser would submit them, with a streaming parser (no DOM: the fetcher bundles no
 * extraction library): a login page's form, its hidden fields (CSRF tokens) included.
 */

/** A form of a page: where and how it is submitted, and the fields it would send as it is. */
export interface HtmlForm {
  readonly id: string | undefined;
  readonly name: string | undefined;
  /** The `action` attribute as written (empty: the page itself). */
  readonly action: string;
  /** `GET` or `POST` (the `method` attribute; HTML's default is `GET`). */
  readonly method: 'GET' | 'POST';
  /** Whether it has a password field. */
  readonly password: boolean;
  /** Name-value pairs in document order, as submitted: no buttons, unchecked boxes or disabled fields. */
  readonly fields: readonly (readonly [string, string])[];
}

interface OpenForm {
  readonly attributes: Record<string, string>;
  readonly fields: [string, string][];
  password: boolean;
  select?: {
    name: string;
    first: string | undefined;
    chosen: string | undefined;
    option?: { value: string | undefined; text: string; selected: boolean };
  };
  textarea?: { name: string; text: string };
}

const SKIPPED_INPUTS = new Set(['submit', 'button', 'image', 'reset', 'file']);

/** Every form of a page, in document order. Forms are not nested in HTML: an inner `<form>` is ignored. */
export function readForms(html: string): HtmlForm[] {
  const forms: HtmlForm[] = [];
  let open: OpenForm | undefined;
  const close = () => {
    if (!open) return;
    const { attributes } = open;
    forms.push({
      id: attributes.id,
      name: attributes.name,
      action: attributes.action ?? '',
      method: (attributes.method ?? '').toUpperCase() === 'POST' ? 'POST' : 'GET',
      password: open.password,
      fields: open.fields,
    });
    open = undefined;
  };
  const parser = new Parser(
    {
      onopentag(name, attributes) {
        if (name === 'form') {
          if (!open) open = { attributes, fields: [], password: false };
          return;
        }
        if (!open || 'disabled' in attributes) return;
        const field = attributes.name;
        if (name === 'input') {
          const type = (attributes.type ?? 'text').toLowerCase();
          if (type === 'password') open.password = true;
          if (field === undefined || field === '' || SKIPPED_INPUTS.has(type)) return;
          if ((type === 'checkbox' || type === 'radio') && !('checked' in attributes)) return;
          open.fields.push([field, attributes.value ?? (type === 'checkbox' || type === 'radio' ? 'on' : '')]);
        } else if (name === 'select' && field) {
          open.select = { name: field, first: undefined, chosen: undefined };
        } else if (name === 'option' && open.select) {
          open.select.option = { value: attributes.value, text: '', selected: 'selected' in attributes };
        } else if (name === 'textarea' && field) {
          open.textarea = { name: field, text: '' };
        }
      },
      ontext(text) {
        if (open?.select?.option) open.select.option.text += text;
        if (open?.textarea) open.textarea.text += text;
      },
      onclosetag(name) {
        if (!open) return;
        if (name === 'option' && open.select?.option) {
          const { option } = open.select;
          const value = option.value ?? option.text.trim();
          open.select.first ??= value;
          if (option.selected) open.select.chosen = value;
          open.select.option = undefined;
        } else if (name === 'select' && open.select) {
          const value = open.select.chosen ?? open.select.first;
          if (value !== undefined) open.fields.push([open.select.name, value]);
          open.select = undefined;
        } else if (name === 'textarea' && open.textarea) {
          open.fields.push([open.textarea.name, open.textarea.text.replace(/^\r?\n/, '')]);
          open.textarea = undefined;
        } else if (name === 'form') {
          close();
        }
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(html);
  parser.end();
  close();
  return forms;
}

/** The form to log in with: by `id` or `name`, else the first one with a password field. */
export function loginForm(forms: readonly HtmlForm[], which: string | undefined): HtmlForm | undefined {
  if (which !== undefined) return forms.find((form) => form.id === which || form.name === which);
  return forms.find((form) => form.password);
}

/** The form's fields with `values` set over them (a field the form lacks is added), as a urlencoded body. */
export function formBody(form: HtmlForm, values: Readonly<Record<string, string>>): string {
  const body = new URLSearchParams();
  const given = new Set<string>();
  for (const [name, value] of form.fields) {
    if (name in values) {
      if (!given.has(name)) body.append(name, values[name] as string);
      given.add(name);
    } else body.append(name, value);
  }
  for (const [name, value] of Object.entries(values)) if (!given.has(name)) body.append(name, value);
  return body.toString();
}
