// dom: the one helper that builds elements, so every screen states its markup in one expression and no
// string of HTML is ever parsed (text from the API is always set as text).

// h('button', {class: 'primary', onclick: fn}, 'Text', child...) -> a new element. Attributes that are
// null, undefined or false are left out; true sets an empty attribute; on* keys add listeners.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value' || k === 'checked' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

// Replaces the children of el.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

let ids = 0;
// A unique id for pairing a <label for> with its input.
export const uid = (prefix = 'f') => `${prefix}-${++ids}`;

// A labelled field: <div class="field"><label for=id>text</label> input</div>; input gets the id.
export function field(text, input) {
  const id = input.id || uid();
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, text), input);
}
