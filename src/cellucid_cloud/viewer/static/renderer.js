// WebGL2 point renderer: every cell is one point sprite, all drawn by one drawArrays call.
// Per cell the GPU gets its position (1-3 floats), one float for its colour (a palette slot for
// a category, a value in [0, 1] for the ramp, negative = missing) and a selection flag. Colours
// come from textures, so hiding a category or changing the ramp never re-uploads the cells.
// In 2D the depth buffer orders the cells: selected ones above the rest, and for a continuous
// field higher values above lower ones and missing values at the back (so a few expressing
// cells are never buried under thousands of zeros).

import { BACKGROUND, MISSING, UNIFORM, rampTexels } from "./colors.js";

const VERTEX = `#version 300 es
precision highp float;
precision highp int;
layout(location = 0) in vec3 a_position;
layout(location = 1) in float a_value;
layout(location = 2) in float a_selected;
uniform mat4 u_matrix;
uniform float u_pointSize;
uniform float u_attenuation;
uniform int u_mode;
uniform highp sampler2D u_palette;
uniform highp sampler2D u_ramp;
uniform vec3 u_missing;
uniform vec3 u_uniform;
uniform vec3 u_background;
uniform bool u_hasSelection;
uniform bool u_flat;
out vec3 v_color;
void main() {
  vec4 color = vec4(u_uniform, 1.0);
  if (u_mode == 1) {
    int slot = int(a_value + 0.5);
    int width = textureSize(u_palette, 0).x;
    color = texelFetch(u_palette, ivec2(slot % width, slot / width), 0);
  } else if (u_mode == 2) {
    color = a_value < 0.0
      ? vec4(u_missing, 1.0)
      : vec4(texelFetch(u_ramp, ivec2(int(a_value * 255.0 + 0.5), 0), 0).rgb, 1.0);
  }
  if (color.a == 0.0) {
    gl_Position = vec4(2.0, 2.0, 2.0, 1.0);
    gl_PointSize = 0.0;
    v_color = color.rgb;
    return;
  }
  float size = u_pointSize;
  bool selected = u_hasSelection && a_selected > 0.5;
  if (selected) size *= 1.6;
  else if (u_hasSelection) color.rgb = mix(color.rgb, u_background, 0.82);
  gl_Position = u_matrix * vec4(a_position, 1.0);
  if (u_flat) {
    float depth = u_mode == 2 ? (a_value < 0.0 ? 0.9 : 0.5 - 0.4 * a_value) : 0.5;
    gl_Position.z = selected ? depth - 0.5 : depth;
  }
  if (u_attenuation > 0.0) size = clamp(size * u_attenuation / gl_Position.w, 1.0, size * 3.0);
  gl_PointSize = size;
  v_color = color.rgb;
}`;

const FRAGMENT = `#version 300 es
precision mediump float;
in vec3 v_color;
uniform bool u_round;
out vec4 outColor;
void main() {
  if (u_round) {
    vec2 d = gl_PointCoord - 0.5;
    if (dot(d, d) > 0.25) discard;
  }
  outColor = vec4(v_color, 1.0);
}`;

const MODES = { uniform: 0, category: 1, continuous: 2 };
const PALETTE_WIDTH = 4096;

function compile(gl, type, source) {
  const shader = gl.createShader(type);
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) {
    throw new Error(`shader: ${gl.getShaderInfoLog(shader)}`);
  }
  return shader;
}

function texture(gl, width, height, texels) {
  const tex = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D, tex);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, width, height, 0, gl.RGBA, gl.UNSIGNED_BYTE, texels);
  return tex;
}

export class PointRenderer {
  constructor(canvas) {
    const gl = canvas.getContext("webgl2", { antialias: false, alpha: false });
    if (!gl) throw new Error("this browser has no WebGL2");
    this.gl = gl;
    this.canvas = canvas;
    this.count = 0;
    this.dimension = 2;
    this.mode = "uniform";
    this.hasSelection = false;
    this.valuesUploaded = false;
    this.selectionUploaded = false;
    this.subsetCount = 0;

    const program = gl.createProgram();
    gl.attachShader(program, compile(gl, gl.VERTEX_SHADER, VERTEX));
    gl.attachShader(program, compile(gl, gl.FRAGMENT_SHADER, FRAGMENT));
    gl.linkProgram(program);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS)) {
      throw new Error(`program: ${gl.getProgramInfoLog(program)}`);
    }
    this.program = program;
    this.uniforms = {};
    for (const name of [
      "u_matrix", "u_pointSize", "u_attenuation", "u_mode", "u_palette", "u_ramp", "u_missing",
      "u_uniform", "u_background", "u_hasSelection", "u_flat", "u_round",
    ]) {
      this.uniforms[name] = gl.getUniformLocation(program, name);
    }

    this.vao = gl.createVertexArray();
    gl.bindVertexArray(this.vao);
    this.positionBuffer = gl.createBuffer();
    this.valueBuffer = gl.createBuffer();
    this.selectionBuffer = gl.createBuffer();
    this.subsetBuffer = gl.createBuffer();
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.subsetBuffer);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.valueBuffer);
    gl.vertexAttribPointer(1, 1, gl.FLOAT, false, 0, 0);
    gl.enableVertexAttribArray(1);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.selectionBuffer);
    gl.vertexAttribPointer(2, 1, gl.UNSIGNED_BYTE, false, 0, 0);
    gl.enableVertexAttribArray(2);

    this.paletteTexture = texture(gl, 1, 1, new Uint8Array([0, 0, 0, 255]));
    this.rampTexture = texture(gl, 256, 1, rampTexels());
  }

  setPositions(positions, dimension) {
    const gl = this.gl;
    this.dimension = dimension;
    this.count = positions.length / dimension;
    gl.bindVertexArray(this.vao);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.positionBuffer);
    gl.bufferData(gl.ARRAY_BUFFER, positions, gl.STATIC_DRAW);
    gl.vertexAttribPointer(0, dimension, gl.FLOAT, false, 0, 0);
    gl.enableVertexAttribArray(0);
    if (!this.valuesUploaded) this.setValues("uniform", new Float32Array(this.count));
    if (!this.selectionUploaded) this.setSelection(null);
  }

  // mode "uniform" | "category" (values = palette slots) | "continuous" (values in [0,1], <0 missing)
  setValues(mode, values) {
    const gl = this.gl;
    this.mode = mode;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.valueBuffer);
    gl.bufferData(gl.ARRAY_BUFFER, values, gl.STATIC_DRAW);
    this.valuesUploaded = true;
  }

  // rgba: 4 bytes per palette slot; alpha 0 hides the slot's cells.
  setPalette(rgba) {
    const gl = this.gl;
    const slots = rgba.length / 4;
    const width = Math.min(PALETTE_WIDTH, slots);
    const height = Math.ceil(slots / width);
    const texels = new Uint8Array(width * height * 4);
    texels.set(rgba);
    gl.deleteTexture(this.paletteTexture);
    this.paletteTexture = texture(gl, width, height, texels);
  }

  // mask: Uint8Array with 1 for selected cells, or null for no selection.
  setSelection(mask) {
    const gl = this.gl;
    this.hasSelection = mask !== null;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.selectionBuffer);
    gl.bufferData(gl.ARRAY_BUFFER, mask ?? new Uint8Array(this.count), gl.DYNAMIC_DRAW);
    this.selectionUploaded = true;
  }

  // Draw every k-th cell (about `target` of them) while the view moves; null: always all.
  // Returns how many cells a moving frame draws.
  setSubset(target) {
    const step = target && target < this.count ? Math.ceil(this.count / target) : 1;
    this.subsetCount = 0;
    if (step > 1) {
      const indices = new Uint32Array(Math.ceil(this.count / step));
      for (let j = 0; j < indices.length; j++) indices[j] = j * step;
      const gl = this.gl;
      gl.bindVertexArray(this.vao);
      gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, indices, gl.STATIC_DRAW);
      this.subsetCount = indices.length;
    }
    return this.subsetCount || this.count;
  }

  // Resize the drawing buffer to the canvas's CSS size times the device pixel ratio.
  resize() {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(this.canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(this.canvas.clientHeight * ratio));
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    return ratio;
  }

  render(camera, moving) {
    const gl = this.gl;
    const ratio = this.resize();
    const u = this.uniforms;
    gl.viewport(0, 0, this.canvas.width, this.canvas.height);
    gl.clearColor(...BACKGROUND.map((c) => c / 255), 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    if (!this.count) return;
    const three = camera.is3d;
    gl.enable(gl.DEPTH_TEST);
    gl.depthFunc(gl.LEQUAL);
    gl.useProgram(this.program);
    gl.bindVertexArray(this.vao);
    const size = camera.pointSize(this.count) * ratio;
    gl.uniformMatrix4fv(u.u_matrix, false, camera.matrix(this.canvas.clientWidth, this.canvas.clientHeight));
    gl.uniform1f(u.u_pointSize, size);
    gl.uniform1f(u.u_attenuation, three ? camera.distance : 0);
    gl.uniform1i(u.u_mode, MODES[this.mode]);
    gl.uniform3fv(u.u_missing, MISSING.map((c) => c / 255));
    gl.uniform3fv(u.u_uniform, UNIFORM.map((c) => c / 255));
    gl.uniform3fv(u.u_background, BACKGROUND.map((c) => c / 255));
    gl.uniform1i(u.u_hasSelection, this.hasSelection ? 1 : 0);
    gl.uniform1i(u.u_flat, three ? 0 : 1);
    gl.uniform1i(u.u_round, size >= 3 ? 1 : 0);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, this.paletteTexture);
    gl.uniform1i(u.u_palette, 0);
    gl.activeTexture(gl.TEXTURE1);
    gl.bindTexture(gl.TEXTURE_2D, this.rampTexture);
    gl.uniform1i(u.u_ramp, 1);
    if (moving && this.subsetCount) gl.drawElements(gl.POINTS, this.subsetCount, gl.UNSIGNED_INT, 0);
    else gl.drawArrays(gl.POINTS, 0, this.count);
  }

  // Block until the GPU has finished the frame (used once, to time the first frame honestly).
  finish() {
    const gl = this.gl;
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4));
  }
}
