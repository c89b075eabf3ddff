// Colours: a categorical palette, the continuous ramp (viridis) and the fixed greys.

export const BACKGROUND = [255, 255, 255];
export const MISSING = [190, 190, 190];
export const UNIFORM = [52, 101, 164];

// Tableau 10 and its light companions, without the two greys (grey means "missing").
const BASE = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
  "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2",
  "#dbdb8d", "#9edae5",
].map((hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)));

function hslToRgb(h, s, l) {
  const k = (n) => (n + h * 12) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  return [f(0), f(8), f(4)].map((v) => Math.round(v * 255));
}

// The colour of category i: the file's own (obs manifest category_colors, "#rrggbb", from
// scanpy's uns['<field>_colors']) when given, else the base palette, then golden-angle hues.
export function categoryColor(i, colors = null) {
  const hex = colors?.[i];
  if (hex) return [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
  if (i < BASE.length) return BASE[i];
  const hue = ((i - BASE.length) * 0.381966) % 1;
  return hslToRgb(hue, 0.65, (i - BASE.length) % 2 ? 0.42 : 0.58);
}

// Viridis as a degree-6 polynomial fit (Matt Zucker's public-domain coefficients); t in [0, 1].
const VIRIDIS = [
  [0.2777273272234177, 0.005407344544966578, 0.3340998053353061],
  [0.1050930431085774, 1.404613529898575, 1.384590162594685],
  [-0.3308618287255563, 0.214847559468213, 0.09509516302823659],
  [-4.634230498983486, -5.799100973351585, -19.33244095627987],
  [6.228269936347081, 14.17993336680649, 56.69055260068105],
  [4.776384997670288, -13.74514537774601, -65.35303263337234],
  [-5.435455855934631, 4.645852612178535, 26.3124352495832],
];

export function viridis(t) {
  return [0, 1, 2].map((c) => {
    let v = 0;
    for (let k = VIRIDIS.length - 1; k >= 0; k--) v = v * t + VIRIDIS[k][c];
    return Math.round(Math.min(1, Math.max(0, v)) * 255);
  });
}

// The ramp as 256 RGBA texels, for the GPU.
export function rampTexels() {
  const texels = new Uint8Array(256 * 4);
  for (let i = 0; i < 256; i++) {
    texels.set([...viridis(i / 255), 255], i * 4);
  }
  return texels;
}

export function css([r, g, b]) {
  return `rgb(${r}, ${g}, ${b})`;
}

export function rampGradient(stops = 12) {
  const parts = [];
  for (let i = 0; i <= stops; i++) parts.push(css(viridis(i / stops)));
  return `linear-gradient(to right, ${parts.join(", ")})`;
}
