"""Jinja2 templates of the HTML and Markdown reports (kept in Python so no package data is needed)."""

HTML = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>DS2TA hardware report</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1150px;color:#222}
h1{font-size:1.6em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em} td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f0f3f7} td.l,th.l{text-align:left} .missing{color:#b00;font-style:italic}
.grade{font-weight:bold;color:#275} .three{display:flex;gap:1em} .card{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;flex:1}
.ok{color:#175} .bad{color:#b00} .rec{border-top:1px dashed #999;margin-top:.5em;padding-top:.3em}
.card .big{font-size:1.5em;font-weight:bold} .label{color:#b00;font-weight:bold} img{max-width:100%}
small{color:#666}
.headline{border:2px solid #3b6ea8;border-radius:8px;background:#eef4fb;padding:.4em 1.2em;margin:1em 0}
.headline dl{display:grid;grid-template-columns:12em 1fr;gap:.35em 1em;margin:.5em 0}
.headline dt{font-weight:bold} .headline dd{margin:0}
</style></head><body>
<h1>DS2TA on a Loihi-2-class chip: report</h1>
{% set h = r.headline %}<section id="headline" class="headline"><dl>
<dt>Target</dt><dd{% if h.target.fits is none %} class="missing"{% endif %}>{{ h.target.line }}</dd>
<dt>Energy per inference</dt><dd{% if h.energy.J is none %} class="missing"{% endif %}>{{ h.energy.line }}{% if h.energy.band is defined %}<br><small>Band: {{ h.energy.band }}.</small>{% endif %}</dd>
<dt>Latency</dt><dd{% if h.latency.sample_latency_steps is none %} class="missing"{% endif %}>{{ h.latency.line }}</dd>
<dt>Chip-exact accuracy</dt><dd{% if h.accuracy.chip_exact is none %} class="missing"{% endif %}>{{ h.accuracy.line }}</dd>
<dt>Lava vs reference</dt><dd class="{{ 'ok' if h.lava_vs_reference.match is true else ('bad' if h.lava_vs_reference.match is false else 'missing') }}">{{ h.lava_vs_reference.line }}</dd>
</dl></section>
<p><small>Folder <code>{{ r.folder }}</code>. Inputs:
{% for k, v in r.inputs.items() %}<code>{{ k }}</code>: {% if v == "missing" %}<span class="missing">missing</span>{% else %}found{% endif %}{% if not loop.last %}; {% endif %}{% endfor %}.
Grades: M measured, S simulated (pre-silicon), V vendor claim, D derived here. Detail below; the configuration last.</small></p>

<h2>Accuracy</h2>
<table><tr>{% for k in r.accuracy %}<th>{{ k }}</th>{% endfor %}</tr>
<tr>{% for k, v in r.accuracy.items() %}<td>{{ v|num }}</td>{% endfor %}</tr>
<tr>{% for k in r.accuracy %}<td><small>{{ r.accuracy_samples[k] }}</small></td>{% endfor %}</tr></table>
<h3>Reference vs Lava</h3>
{% if r.match == "missing" %}<p class="missing">no --compare simulation found</p>{% else %}
<p class="{{ 'ok' if r.match.match is true else 'bad' }}"><b>{{ r.match.line }}</b></p>
{% if r.match.first_divergence %}<table><tr>{% for k in r.match.first_divergence %}<th>{{ k }}</th>{% endfor %}</tr>
<tr>{% for v in r.match.first_divergence.values() %}<td>{{ v|num }}</td>{% endfor %}</tr></table>{% endif %}{% endif %}
<p><small>Activity priced below: {{ r.activity_source }}.</small></p>

<h2>Energy per inference: three numbers, never one</h2>
{% if r.energy == "missing" %}<p class="missing">energy missing (needs mapping.json and simulation.json)</p>{% else %}{% set e = r.energy %}
<div class="three">
<div class="card"><div>1. Paper-comparable (Horowitz 45 nm)</div><div class="big">{{ e.paper.total_J|uj }}</div>
<small>4.6 pJ/MAC first layer + 0.9 pJ/AC incl. attention; grade D; comparable with DS2TA/Spikformer/STAtten tables</small></div>
<div class="card"><div>2. Loihi-class event model</div>{% for k, p in e.loihi.items() %}
<div><b>{{ p.profile }}</b>: dynamic <span class="big">{{ p.dynamic_J|uj }}</span>, static {{ p.static_J.model_step|uj }}
(<span class="grade">{{ p.static_grade }}</span>), total {{ p.total_J.model_step|uj }}</div>{% endfor %}
<small>Loihi 1 event costs (upper bound for Loihi 2) + Loihi 2 measured static power x cores x steps x modeled step time</small></div>
<div class="card"><div>3. GPU</div><div class="big">{{ e.gpu.energy_J|uj }}</div>
{% if e.gpu.kind == "modeled" %}<div class="label">{{ e.gpu.label }}</div>{% else %}<small>measured with NVML on {{ e.gpu.device }}:</small>
<table><tr><th>run</th><th>total</th><th>idle-subtracted</th><th>latency/batch</th></tr>{% for k, g in e.gpu.runs.items() %}
<tr><td>{{ k }}</td><td>{{ g.energy_J|uj }}</td><td>{{ g.energy_idle_subtracted_J|uj }}</td><td>{{ g.latency_s|num }} s</td></tr>{% endfor %}</table>{% endif %}
<small>grade {{ e.gpu.grade }}: {{ e.gpu.source }}</small>
{% set g = r.gpu_recorded %}<div class="rec">{% if g.shown %}<div class="label">{{ g.label }}</div>
<table><tr><th class="l">what</th><th>batch</th><th>total / inference</th><th>idle-subtracted</th><th>latency/batch</th></tr>
{% for what, runs in g.runs.items() %}{% for b, x in runs.items() %}<tr><td class="l">{{ what }}</td><td>{{ x.batch_size }}</td><td>{{ x.energy_J|uj }}</td><td>{{ x.energy_idle_subtracted_J|uj }}</td><td>{{ x.latency_s|num }} s</td></tr>{% endfor %}{% endfor %}</table>
<small>grade {{ g.grade }} (NVML); {{ g.model_note }}; see {{ g.doc }}</small>{% else %}<small>Recorded GPU measurement: {{ g.reason }}</small>{% endif %}</div></div>
</div>
<p>Chip steps per inference: {{ e.latency.steps }}{% if r.schedule != "missing" %} ({{ r.schedule.line }}){% endif %}; modeled {{ e.latency.step_s_model|num }} s/step = {{ e.latency.seconds_model|num }} s per inference
(at PilotNet's measured {{ (e.latency.step_s_pilotnet_measured*1e6)|num }} µs/step: {{ e.latency.seconds_at_pilotnet_step|num }} s). Energy-delay product:
{% for k, v in e.edp_Js.items() %}{{ k }} {{ v|num }} J·s{% if not loop.last %}, {% endif %}{% endfor %}.</p>
{% for k, p in e.loihi.items() %}<h3>Terms: {{ p.profile }}</h3>
<table><tr><th class="l">term</th><th>count</th><th>unit (pJ)</th><th>energy</th><th>grade</th><th class="l">source</th></tr>
{% for t in p.terms %}<tr><td class="l">{{ t.name }}</td><td>{{ t.count|num }}</td><td>{{ (t.unit_J*1e12)|num }}</td><td>{{ t.energy_J|uj }}</td><td class="grade">{{ t.grade }}</td><td class="l"><small>{{ t.source }}</small></td></tr>{% endfor %}
</table>{% endfor %}
<ul>{% for n in e.notes %}<li><small>{{ n }}</small></li>{% endfor %}</ul>{% endif %}
{% set l2 = r.loihi2_model %}<h3 id="loihi2">Loihi 2 time and power model, beside the Loihi 1 profiles</h3>
{% if l2.cores is none %}<p class="missing">{{ l2.line }}</p>{% else %}<p>{{ l2.line }}.</p>
<table><tr><th class="l">input</th><th>cores: Intel-like + vendor-limit layers [vendor limits only]</th><th>chips</th><th>inferences/s</th><th>energy / inference</th><th>W</th><th>step</th><th class="l">bound (slowest core's layer)</th></tr>
{% for k in ("chip_bound", "host_fed") %}{% set x = l2[k] %}<tr><td class="l">{{ k|replace("_", "-") }}</td>{% if x %}<td>{{ l2.cores|num }} = {{ l2.cores_intel_like|num }} + {{ l2.cores_vendor_limit_layers|num }} [{{ l2.vendor_limit_cores|num }}]</td><td>{{ l2.chips }}</td><td>{{ x.inferences_per_s|rate }}</td><td>{{ x.energy_J|uj }}</td><td>{{ x.total_W|num }} W</td><td>{{ x.step_s|num }} s</td><td class="l">{{ x.bound }} ({{ x.slowest_layer }})</td>{% else %}<td colspan="7" class="l missing">not priced: the run counted no input-layer values</td>{% endif %}</tr>{% endfor %}</table>
<small>Band: {{ l2.band.line }}. {{ l2.notes|join("; ") }}. {{ l2.steps_per_inference }} chip steps per inference; host input {{ l2.host_bytes|num }} bytes per inference (DELTA_SPARSE_8).</small>{% endif %}

<h2>Attention on the chip: neuron lowering vs opaque core</h2>
{% if r.attention_lowerings == "missing" %}<p class="missing">no model.nir with an attention node</p>{% else %}{% set a = r.attention_lowerings %}
<p><small>Forms: {% for k, v in a.forms.items() %}<code>{{ k }}</code> {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}; simulated lowering: {{ a.simulated }}. Structural numbers from {{ a.graph }} mapped under each lowering; energy per inference (model step).</small></p>
<table><tr><th class="l">lowering</th><th>attention neurons</th><th>synapse entries</th><th>attention cores</th><th>total cores</th><th>chips</th><th>latency steps</th><th>steps / inference</th><th>paper (Horowitz)</th><th>Loihi SANA-FE</th><th>Loihi Table 2</th><th>GPU</th><th class="l">energy from</th></tr>
{% for x in a.rows %}<tr><td class="l">{{ x.lowering }}</td><td>{{ x.attention_neurons|num }}</td><td>{{ x.attention_synapse_entries|num }}</td><td>{{ x.attention_cores|num }}</td><td>{{ x.total_cores|num }}</td><td>{{ x.chips|num }}</td><td>{{ x.latency_steps|num }}</td><td>{{ x.steps_per_inference|num }}</td><td>{{ x.paper_J|uj }}</td><td>{{ x.loihi_sanafe_J|uj }}</td><td>{{ x.loihi_table2_J|uj }}</td><td>{{ x.gpu_J|uj }}</td><td class="l"><small>{{ x.energy_source }}</small></td></tr>{% endfor %}
</table>{% endif %}

<h2>Per layer</h2>
{% if r.layers == "missing" %}<p class="missing">no simulation or mapping found</p>{% else %}
<table><tr><th class="l">layer</th><th>kind</th><th>neurons</th><th>cores</th><th>spikes/inf</th><th>firing rate</th><th>synops/inf</th><th>attention ops/inf</th><th>Loihi dyn. (SANA-FE)</th><th>paper</th></tr>
{% for l in r.layers %}<tr><td class="l">{{ l.layer }}</td><td>{{ l.kind }}</td><td>{{ l.neurons|num }}</td><td>{{ l.cores|num }}</td><td>{{ l.spikes|num }}</td><td>{{ l.firing_rate|num }}</td><td>{{ l.synops|num }}</td><td>{{ l.attention_ops|num }}</td><td>{{ l.energy_sanafe_J|uj }}</td><td>{{ l.energy_paper_J|uj }}</td></tr>{% endfor %}
</table>{% endif %}
{% if r.mapping != "missing" %}<p>Mapping: {{ r.mapping.total_cores }} cores on {{ r.mapping.chips }} chip(s) ({{ r.mapping.spec }}).
{% for k, v in r.mapping.fan_in_splits.items() %}Fan-in split (partial sums + merge, grade D) of <code>{{ k }}</code>: {{ v.groups }} input groups on {{ v.partial_cores }} partial-sum cores + {{ v.merge_cores }} merge core(s). {% endfor %}
{% if r.mapping.merge_latency_steps %}Merge stages add {{ r.mapping.merge_latency_steps }} chip step(s) of latency.{% endif %}</p>{% endif %}

<h2>Plots</h2>
{% for k, img in plots.items() %}{% if img %}<p><img alt="{{ k }}" src="data:image/png;base64,{{ img }}"></p>{% else %}<p class="missing">{{ k }} plot: inputs missing</p>{% endif %}{% endfor %}

<h2>NeuroBench-style metrics (per inference)</h2>
{% if r.neurobench == "missing" %}<p class="missing">missing</p>{% else %}<table>
{% for k, v in r.neurobench.items() %}<tr><th class="l">{{ k }}</th><td class="l">{{ v|num }}</td></tr>{% endfor %}</table>{% endif %}

<h2>Calibration: PilotNet-LIF vs Intel's Loihi 2 measurement</h2>
{% if r.calibration == "missing" %}<p class="missing">PilotNet data not available on this machine</p>{% else %}{% set c = r.calibration %}
<p><small>{{ c.network }}; input: {{ c.input }}. The same counting, mapping and energy path as above; ratio = predicted / measured.</small></p>
<table><tr><th class="l">quantity</th><th>predicted</th><th>measured</th><th>ratio</th><th>grade</th><th class="l">note</th></tr>
{% for q in c.rows %}<tr><td class="l">{{ q.quantity }}</td><td>{{ q.predicted|num }}</td><td>{{ q.measured|num }}</td><td><b>{{ q.ratio|num }}</b></td><td>{{ q.grade }}</td><td class="l"><small>{{ q.note }}</small></td></tr>{% endfor %}</table>
<table><tr><th class="l">layer</th><th>neurons</th><th>cores (ours)</th><th>cores (3168 cap)</th><th>Intel cores</th><th class="l">limited by</th><th>spikes/inf</th><th>synops/inf</th></tr>
{% for p in c.per_layer %}<tr><td class="l">{{ p.layer }}</td><td>{{ p.neurons }}</td><td>{{ p.predicted_cores }}</td><td>{{ p.predicted_cores_capped }}</td><td>{{ p.intel_cores }}</td><td class="l">{{ p.limited_by }}</td><td>{{ p.spikes }}</td><td>{{ p.synops }}</td></tr>{% endfor %}</table>
<p><small>Why the numbers differ: see docs/energy.md (Intel's compiler packs ~2-3k neurons per core and splits Dense 2560->100 over 12 cores; Loihi 1 per-event costs overestimate Loihi 2's dynamic energy; static power scales with our smaller core count).</small></p>{% endif %}
<h2>Configuration: model and quantization</h2>
{% if r.model == "missing" %}<p class="missing">model config missing</p>{% else %}
<table>{% for k, v in r.model.items() %}<tr><th class="l">{{ k }}</th><td class="l">{{ v }}</td></tr>{% endfor %}</table>{% endif %}
{% if r.quantization == "missing" %}<p class="missing">quantization.json missing</p>{% else %}
<table>{% for k, v in r.quantization.items() %}<tr><th class="l">{{ k }}</th><td class="l">{{ v|short }}</td></tr>{% endfor %}</table>{% endif %}

{% if r.derived %}<h2>Derived here</h2><ul>{% for d in r.derived %}<li>{{ d }}</li>{% endfor %}</ul>{% endif %}
</body></html>
"""

MARKDOWN = r"""# DS2TA on a Loihi-2-class chip: report
{% set h = r.headline %}
- **Target:** {{ h.target.line }}
- **Energy per inference:** {{ h.energy.line }}{% if h.energy.band is defined %}. Band: {{ h.energy.band }}.{% endif %}
- **Latency:** {{ h.latency.line }}
- **Chip-exact accuracy:** {{ h.accuracy.line }}
- **Lava vs reference:** {{ h.lava_vs_reference.line }}

Folder `{{ r.folder }}`. Missing inputs: {{ r.missing|join(", ") or "none" }}. Detail below; the configuration last.

## Accuracy
| {% for k in r.accuracy %}{{ k }} | {% endfor %}
|{% for k in r.accuracy %}---|{% endfor %}
| {% for v in r.accuracy.values() %}{{ v|num }} | {% endfor %}
| {% for k in r.accuracy %}{{ r.accuracy_samples[k] }} | {% endfor %}

Reference vs Lava: {% if r.match == "missing" %}missing (no --compare simulation.json){% else %}**{{ r.match.line }}**{% endif %}

Activity priced: {{ r.activity_source }}.

## Energy per inference (three numbers)
{% if r.energy == "missing" %}missing{% else %}{% set e = r.energy %}| number | energy | grade |
|---|---|---|
| 1. paper-comparable (Horowitz 45 nm) | {{ e.paper.total_J|uj }} | D |
{% for k, p in e.loihi.items() %}| 2. Loihi event model, {{ p.profile }}: dynamic / static / total | {{ p.dynamic_J|uj }} / {{ p.static_J.model_step|uj }} / {{ p.total_J.model_step|uj }} | {{ p.terms|map(attribute="grade")|unique|join("") }} + {{ p.static_grade }} |
{% endfor %}| 3. GPU ({{ e.gpu.kind }}{% if e.gpu.kind == "modeled" %}: NOT a measurement{% endif %}) | {{ e.gpu.energy_J|uj }} | {{ e.gpu.grade }} |
{% if r.gpu_recorded.shown %}
GPU, {{ r.gpu_recorded.label }} (grade M, NVML):

| what | batch | total / inference | idle-subtracted | latency / batch |
|---|---|---|---|---|
{% for what, runs in r.gpu_recorded.runs.items() %}{% for b, x in runs.items() %}| {{ what }} | {{ x.batch_size }} | {{ x.energy_J|uj }} | {{ x.energy_idle_subtracted_J|uj }} | {{ x.latency_s|num }} s |
{% endfor %}{% endfor %}{% else %}
Recorded GPU measurement: {{ r.gpu_recorded.reason }}
{% endif %}
Chip steps per inference {{ e.latency.steps }}{% if r.schedule != "missing" %} ({{ r.schedule.line }}){% endif %}, {{ e.latency.seconds_model|num }} s (modeled step time). EDP: {% for k, v in e.edp_Js.items() %}{{ k }} {{ v|num }} J·s; {% endfor %}
{% endif %}

### Loihi 2 time and power model, beside the Loihi 1 profiles
{% set l2 = r.loihi2_model %}{% if l2.cores is none %}{{ l2.line }}{% else %}{{ l2.line }}.

| input | cores: Intel-like + vendor-limit layers [vendor limits only] | chips | inferences/s | energy / inference | W | step | bound (slowest core's layer) |
|---|---|---|---|---|---|---|---|
{% for k in ("chip_bound", "host_fed") %}{% set x = l2[k] %}{% if x %}| {{ k|replace("_", "-") }} | {{ l2.cores|num }} = {{ l2.cores_intel_like|num }} + {{ l2.cores_vendor_limit_layers|num }} [{{ l2.vendor_limit_cores|num }}] | {{ l2.chips }} | {{ x.inferences_per_s|rate }} | {{ x.energy_J|uj }} | {{ x.total_W|num }} W | {{ x.step_s|num }} s | {{ x.bound }} ({{ x.slowest_layer }}) |
{% else %}| {{ k|replace("_", "-") }} | not priced: the run counted no input-layer values | | | | | | |
{% endif %}{% endfor %}
Band: {{ l2.band.line }}. {{ l2.notes|join("; ") }}. {{ l2.steps_per_inference }} chip steps per inference; host input {{ l2.host_bytes|num }} bytes per inference (DELTA_SPARSE_8).
{% endif %}

## Attention: neuron lowering vs core
{% if r.attention_lowerings == "missing" %}missing (no model.nir with an attention node){% else %}{% set a = r.attention_lowerings %}Simulated lowering: {{ a.simulated }}.

| lowering | attention neurons | synapse entries | attention cores | total cores | chips | latency steps | paper | Loihi SANA-FE | Loihi Table 2 | GPU | energy from |
|---|---|---|---|---|---|---|---|---|---|---|---|
{% for x in a.rows %}| {{ x.lowering }} | {{ x.attention_neurons|num }} | {{ x.attention_synapse_entries|num }} | {{ x.attention_cores|num }} | {{ x.total_cores|num }} | {{ x.chips|num }} | {{ x.latency_steps|num }} | {{ x.paper_J|uj }} | {{ x.loihi_sanafe_J|uj }} | {{ x.loihi_table2_J|uj }} | {{ x.gpu_J|uj }} | {{ x.energy_source }} |
{% endfor %}{% endif %}

## Per layer
{% if r.layers == "missing" %}missing{% else %}| layer | kind | neurons | cores | spikes/inf | firing rate | synops/inf | Loihi dyn. | paper |
|---|---|---|---|---|---|---|---|---|
{% for l in r.layers %}| {{ l.layer }} | {{ l.kind }} | {{ l.neurons|num }} | {{ l.cores|num }} | {{ l.spikes|num }} | {{ l.firing_rate|num }} | {{ l.synops|num }} | {{ l.energy_sanafe_J|uj }} | {{ l.energy_paper_J|uj }} |
{% endfor %}{% endif %}

## NeuroBench-style metrics
{% if r.neurobench == "missing" %}missing{% else %}{% for k, v in r.neurobench.items() %}- {{ k }}: {{ v|num }}
{% endfor %}{% endif %}

## Calibration: PilotNet-LIF vs Intel's Loihi 2 measurement
{% if r.calibration == "missing" %}missing{% else %}| quantity | predicted | measured | ratio |
|---|---|---|---|
{% for q in r.calibration.rows %}| {{ q.quantity }} | {{ q.predicted|num }} | {{ q.measured|num }} | {{ q.ratio|num }} |
{% endfor %}{% endif %}

## Configuration: model and quantization
{% if r.model == "missing" %}model config missing{% else %}| model | |
|---|---|
{% for k, v in r.model.items() %}| {{ k }} | {{ v|short|replace("|", "\\|") }} |
{% endfor %}{% endif %}
{% if r.quantization == "missing" %}quantization.json missing{% else %}| quantization | |
|---|---|
{% for k, v in r.quantization.items() %}| {{ k }} | {{ v|short|replace("|", "\\|") }} |
{% endfor %}{% endif %}
"""
