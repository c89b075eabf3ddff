// Gene search with completion over the var manifest's names (and any alternative name sets):
// prefix matches first, then substring matches, case-insensitive, at most LIMIT shown.

const LIMIT = 30;

export class GeneSearch {
  constructor(input, list, varManifest, onPick) {
    this.input = input;
    this.list = list;
    this.onPick = onPick;
    this.active = -1;
    this.entries = varManifest.fields.map((field, index) => ({ name: String(field[1]), index }));
    for (const set of varManifest.gene_name_sets ?? []) {
      (set.names ?? []).forEach((name, index) => {
        if (name && name !== this.entries[index]?.name) {
          this.entries.push({ name: String(name), index, alias: this.entries[index].name });
        }
      });
    }
    this.lower = this.entries.map((e) => e.name.toLowerCase());
    input.addEventListener("input", () => this.update());
    input.addEventListener("keydown", (event) => this.key(event));
    input.addEventListener("blur", () => setTimeout(() => this.close(), 150));
    list.addEventListener("mousedown", (event) => {
      const option = event.target.closest("[role=option]");
      if (option) {
        event.preventDefault();
        this.pick(this.shown[Number(option.dataset.position)]);
      }
    });
  }

  matches(query) {
    const q = query.trim().toLowerCase();
    if (!q) return [];
    const prefix = [];
    const inner = [];
    for (let i = 0; i < this.lower.length && prefix.length < LIMIT; i++) {
      const at = this.lower[i].indexOf(q);
      if (at === 0) prefix.push(this.entries[i]);
      else if (at > 0 && inner.length < LIMIT) inner.push(this.entries[i]);
    }
    const exact = prefix.filter((e) => e.name.toLowerCase() === q);
    const rest = prefix.filter((e) => e.name.toLowerCase() !== q);
    return [...exact, ...rest, ...inner].slice(0, LIMIT);
  }

  update() {
    this.shown = this.matches(this.input.value);
    this.active = this.shown.length ? 0 : -1;
    this.render();
  }

  render() {
    this.list.replaceChildren(
      ...this.shown.map((entry, position) => {
        const li = document.createElement("li");
        li.setAttribute("role", "option");
        li.id = `gene-option-${position}`;
        li.dataset.position = String(position);
        li.setAttribute("aria-selected", String(position === this.active));
        li.textContent = entry.alias ? `${entry.name} (${entry.alias})` : entry.name;
        return li;
      }),
    );
    const open = this.shown.length > 0;
    this.list.hidden = !open;
    this.input.setAttribute("aria-expanded", String(open));
    if (this.active >= 0) this.input.setAttribute("aria-activedescendant", `gene-option-${this.active}`);
    else this.input.removeAttribute("aria-activedescendant");
  }

  key(event) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!this.shown?.length) return;
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.active = (this.active + step + this.shown.length) % this.shown.length;
      this.render();
    } else if (event.key === "Enter") {
      event.preventDefault();
      const entry = this.shown?.[this.active] ?? this.matches(this.input.value)[0];
      if (entry) this.pick(entry);
    } else if (event.key === "Escape") {
      this.close();
    }
  }

  pick(entry) {
    this.input.value = entry.name;
    this.close();
    this.onPick(entry.index);
  }

  close() {
    this.shown = [];
    this.active = -1;
    this.render();
  }
}
