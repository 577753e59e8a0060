// The portal form (served from the gateway, no framework). Everything the citizen typed or the
// server answered is put in the page with textContent, never as HTML. Contacts are sent in POST
// bodies only. Findings come from the server's own validator (/v1/portal/check), so the hints
// follow the same rules as the verdict.
'use strict';
(function () {
  // Every sentence this script shows (Vietnamese).
  var T = {
    checking: 'Đang kiểm tra…',
    uploading: 'Đang tải lên: ',
    sending: 'Đang gửi phản ánh: ',
    processing: 'Đang xử lý…',
    fileOk: 'Thời điểm chụp: ',
    fileOkNoTime: 'Tệp hợp lệ.',
    fileFailed: 'Không kiểm tra được tệp này. Bạn vẫn có thể gửi.',
    remove: 'Bỏ tệp',
    tooManyFiles: 'Chỉ gửi được tối đa ',
    files: ' tệp.',
    positionAsking: 'Đang lấy vị trí…',
    positionOk: 'Đã lấy vị trí: ',
    positionAccuracy: ' (sai số khoảng ',
    meters: ' m)',
    positionDenied: 'Không lấy được vị trí. Hãy cho phép truy cập vị trí hoặc nhập địa chỉ.',
    positionUnsupported: 'Trình duyệt không hỗ trợ lấy vị trí. Vui lòng nhập địa chỉ.',
    emailFirst: 'Vui lòng nhập email trước khi nhận mã.',
    codeSent: 'Đã gửi mã xác nhận đến ',
    codeSentEnd: '. Mở email và nhập mã 6 chữ số.',
    codeSixDigits: 'Mã xác nhận gồm 6 chữ số.',
    verified: 'Đã xác nhận email ',
    accepted: 'Phản ánh của bạn đã được tiếp nhận và chuyển đến Trung tâm Giám sát, điều hành đô thị thông minh tỉnh.',
    needsReview: 'Phản ánh của bạn đã được ghi nhận và sẽ được cán bộ kiểm tra thêm trước khi chuyển xử lý.',
    fixBelow: 'Phản ánh chưa gửi được. Vui lòng sửa các mục được đánh dấu bên dưới.',
    networkError: 'Không kết nối được với hệ thống. Vui lòng kiểm tra mạng và thử lại.',
    genericError: 'Chưa gửi được phản ánh. Vui lòng thử lại sau ít phút.',
    photo: 'Ảnh',
    video: 'Video',
    audio: 'Ghi âm'
  };

  var $ = function (id) { return document.getElementById(id); };
  var form = $('report-form');
  if (!form) { return; }
  var maxFiles = parseInt(($('media').getAttribute('data-max') || '10'), 10);

  function newKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }

  var state = {
    files: [],
    position: null,
    challenge: null,
    verification: null,
    verifiedEmail: null,
    idempotency: newKey()
  };

  function debounce(fn, ms) {
    var t = null;
    return function () {
      if (t) { clearTimeout(t); }
      t = setTimeout(fn, ms);
    };
  }

  // One request: JSON or FormData body, progress of the upload, the JSON answer.
  function request(url, body, headers, onProgress) {
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      xhr.open('POST', url);
      xhr.responseType = 'json';
      var h = headers || {};
      Object.keys(h).forEach(function (k) { xhr.setRequestHeader(k, h[k]); });
      if (onProgress && xhr.upload) {
        xhr.upload.onprogress = function (e) {
          if (e.lengthComputable) { onProgress(Math.round(100 * e.loaded / e.total)); }
        };
      }
      xhr.onload = function () { resolve({ status: xhr.status, body: xhr.response || {} }); };
      xhr.onerror = function () { resolve({ status: 0, body: {} }); };
      if (body instanceof FormData) {
        xhr.send(body);
      } else {
        xhr.setRequestHeader('Content-Type', 'application/json');
        xhr.send(JSON.stringify(body));
      }
    });
  }

  function reportPart(report) {
    return new Blob([JSON.stringify(report)], { type: 'application/json' });
  }

  function value(id) { return $(id).value.trim(); }

  // The report as the form holds it now.
  function report() {
    var r = { channel: 'portal' };
    var content = value('content');
    if (content) { r.content = content; }
    var occurred = value('occurred');
    if (occurred) {
      // The citizen's wall clock is Vietnam's (UTC+7).
      r.occurred_at = (occurred.length === 16 ? occurred + ':00' : occurred) + '+07:00';
    }
    var field = value('field');
    if (field) {
      r.category = { field: field };
      var sub = value('subcategory');
      if (sub) { r.category.subcategory = sub; }
    }
    var address = value('address');
    if (address || state.position) {
      r.location = {};
      if (address) { r.location.address = address; }
      if (state.position) {
        r.location.lat = state.position.lat;
        r.location.lon = state.position.lon;
      }
    }
    var reporter = {};
    ['name', 'phone', 'email'].forEach(function (k) {
      var v = value(k);
      if (v) { reporter[k] = v; }
    });
    r.reporter = reporter;
    r.confidential = $('confidential').checked;
    return r;
  }

  function show(el, text) {
    el.textContent = text || '';
    el.hidden = !text;
  }

  // Findings as paragraphs of text.
  function fill(el, findings) {
    el.textContent = '';
    findings.forEach(function (f) {
      var p = document.createElement('p');
      p.textContent = f.message;
      el.appendChild(p);
    });
    el.hidden = findings.length === 0;
  }

  // ---- The description hint: missing diacritics, chat abbreviations (the server's rules).
  var content = $('content');
  var hint = $('content-hint');
  var lastChecked = '';
  var checkContent = debounce(function () {
    var text = value('content');
    if (text === lastChecked) { return; }
    lastChecked = text;
    if (text.length < 3) { fill(hint, []); return; }
    var fd = new FormData();
    fd.append('report', reportPart({ channel: 'portal', content: text }));
    request('/v1/portal/check', fd).then(function (res) {
      if (res.status !== 200 || value('content') !== text) { return; }
      var all = (res.body.reasons || []).concat(res.body.flags || []);
      fill(hint, all.filter(function (f) {
        return f.field.indexOf('content') === 0 && f.code !== 'CONTENT_MISSING';
      }));
    });
  }, 600);
  content.addEventListener('input', function () {
    show($('err-content'), '');
    content.removeAttribute('aria-invalid');
    checkContent();
  });

  // ---- Field and sub-category.
  var field = $('field');
  var sub = $('subcategory');
  function filterSubcategories() {
    var f = field.value;
    Array.prototype.forEach.call(sub.options, function (o) {
      if (!o.value) { return; }
      var match = !f || o.getAttribute('data-field') === f;
      o.hidden = !match;
      o.disabled = !match;
    });
    var selected = sub.options[sub.selectedIndex];
    if (selected && selected.disabled) { sub.value = ''; }
  }
  field.addEventListener('change', filterSubcategories);
  sub.addEventListener('change', function () {
    var o = sub.options[sub.selectedIndex];
    if (o && o.value && !field.value) {
      field.value = o.getAttribute('data-field');
      filterSubcategories();
    }
  });
  filterSubcategories();

  // ---- Place: the device's position, or an address with suggestions.
  $('use-position').addEventListener('click', function () {
    var status = $('position-status');
    if (!navigator.geolocation) { status.textContent = T.positionUnsupported; return; }
    status.textContent = T.positionAsking;
    navigator.geolocation.getCurrentPosition(function (pos) {
      state.position = {
        lat: Math.round(pos.coords.latitude * 1e6) / 1e6,
        lon: Math.round(pos.coords.longitude * 1e6) / 1e6
      };
      show($('err-place'), '');
      status.textContent = T.positionOk + state.position.lat.toFixed(5) + ', ' +
        state.position.lon.toFixed(5) + T.positionAccuracy + Math.round(pos.coords.accuracy) + T.meters;
    }, function () {
      status.textContent = T.positionDenied;
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });

  var address = $('address');
  var placeList = $('place-list');
  var suggest = debounce(function () {
    var q = value('address');
    if (q.length < 2) { placeList.textContent = ''; return; }
    request('/v1/portal/places', { q: q }).then(function (res) {
      if (res.status !== 200 || value('address') !== q) { return; }
      placeList.textContent = '';
      (res.body.places || []).forEach(function (p) {
        var o = document.createElement('option');
        o.value = p.label;
        o.label = p.note;
        placeList.appendChild(o);
      });
    });
  }, 250);
  address.addEventListener('input', function () {
    show($('err-place'), '');
    address.removeAttribute('aria-invalid');
    suggest();
  });

  // ---- Media: each chosen file is checked at once (capture time, readability) with progress.
  var mediaInput = $('media');
  var mediaList = $('media-list');
  function kindOf(file) {
    if (file.type.indexOf('video/') === 0) { return T.video; }
    if (file.type.indexOf('audio/') === 0) { return T.audio; }
    return T.photo;
  }
  function localTime(iso) {
    try {
      return new Date(iso).toLocaleString('vi-VN', { timeZone: 'Asia/Ho_Chi_Minh', hour12: false });
    } catch (e) {
      return iso;
    }
  }
  function addFile(file) {
    var item = { file: file };
    var li = document.createElement('li');
    var thumb;
    if (file.type.indexOf('image/') === 0) {
      thumb = document.createElement('img');
      thumb.alt = '';
      thumb.src = URL.createObjectURL(file);
    } else {
      thumb = document.createElement('span');
      thumb.className = 'kind';
      thumb.textContent = kindOf(file);
    }
    var name = document.createElement('span');
    name.className = 'name';
    name.textContent = file.name;
    var progress = document.createElement('progress');
    progress.max = 100;
    progress.value = 0;
    var status = document.createElement('span');
    status.className = 'status-line';
    status.textContent = T.checking;
    var remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'secondary';
    remove.textContent = T.remove;
    remove.setAttribute('aria-label', T.remove + ' ' + file.name);
    remove.addEventListener('click', function () {
      state.files = state.files.filter(function (x) { return x !== item; });
      li.remove();
      mediaInput.focus();
    });
    li.appendChild(thumb);
    li.appendChild(name);
    li.appendChild(progress);
    li.appendChild(status);
    li.appendChild(remove);
    mediaList.appendChild(li);
    state.files.push(item);

    var fd = new FormData();
    fd.append('report', reportPart({ channel: 'portal' }));
    fd.append('media', file, file.name);
    request('/v1/portal/check', fd, null, function (p) { progress.value = p; }).then(function (res) {
      progress.hidden = true;
      if (res.status !== 200) {
        status.className = 'warn';
        status.textContent = (res.body && res.body.message_vi) || T.fileFailed;
        return;
      }
      var all = (res.body.reasons || []).concat(res.body.flags || []);
      var mine = all.filter(function (f) { return f.field.indexOf('attachments[') === 0; });
      var rejected = (res.body.reasons || []).filter(function (f) { return f.field.indexOf('attachments[') === 0; });
      if (mine.length) {
        status.className = rejected.length ? 'bad' : 'warn';
        status.textContent = mine.map(function (f) { return f.message; }).join(' ');
      } else {
        var captured = (res.body.media || [])[0];
        status.className = 'ok';
        status.textContent = captured && captured.captured_at
          ? T.fileOk + localTime(captured.captured_at) : T.fileOkNoTime;
      }
    });
  }
  mediaInput.addEventListener('change', function () {
    show($('err-media'), '');
    Array.prototype.forEach.call(mediaInput.files, function (file) {
      if (state.files.length >= maxFiles) {
        show($('err-media'), T.tooManyFiles + maxFiles + T.files);
        return;
      }
      addFile(file);
    });
    mediaInput.value = '';
  });

  // ---- The one-time code that confirms the email address (Đ6.4).
  var email = $('email');
  var otpStatus = $('otp-status');
  var otpError = $('err-otp');
  email.addEventListener('input', function () {
    show($('err-email'), '');
    email.removeAttribute('aria-invalid');
    if (state.verification && value('email').toLowerCase() !== state.verifiedEmail) {
      state.verification = null;
      state.verifiedEmail = null;
      otpStatus.textContent = '';
      $('otp-send').hidden = false;
    }
  });
  $('otp-send').addEventListener('click', function () {
    var address = value('email');
    show(otpError, '');
    if (!address) { show(otpError, T.emailFirst); email.focus(); return; }
    var button = $('otp-send');
    button.disabled = true;
    request('/v1/portal/otp', { contact: address }).then(function (res) {
      button.disabled = false;
      if (res.status === 202) {
        state.challenge = res.body.challenge;
        $('otp-entry').hidden = false;
        otpStatus.textContent = T.codeSent + res.body.sent_to + T.codeSentEnd;
        $('otp-code').value = '';
        $('otp-code').focus();
      } else {
        show(otpError, res.body.message_vi || T.genericError);
      }
    });
  });
  $('otp-verify').addEventListener('click', function () {
    var code = value('otp-code').replace(/\s+/g, '');
    show(otpError, '');
    if (!/^[0-9]{6}$/.test(code)) { show(otpError, T.codeSixDigits); $('otp-code').focus(); return; }
    var button = $('otp-verify');
    button.disabled = true;
    request('/v1/portal/otp/verify', { challenge: state.challenge || '', code: code }).then(function (res) {
      button.disabled = false;
      if (res.status === 200) {
        state.verification = res.body.verification;
        state.verifiedEmail = value('email').toLowerCase();
        $('otp-entry').hidden = true;
        $('otp-send').hidden = true;
        otpStatus.textContent = T.verified + value('email') + '.';
      } else {
        if (res.status === 410) { $('otp-entry').hidden = true; }
        show(otpError, res.body.message_vi || T.genericError);
      }
    });
  });

  // ---- Submission: every reason shown beside its field.
  var slots = [
    ['content', 'err-content', 'content'],
    ['reporter.name', 'err-name', 'name'],
    ['reporter.email', 'err-email', 'email'],
    ['reporter.phone', 'err-phone', 'phone'],
    ['reporter.verified_by', 'err-otp', 'email'],
    ['reporter', 'err-phone', 'phone'],
    ['location', 'err-place', 'address'],
    ['attachments', 'err-media', 'media'],
    ['occurred_at', 'err-time', 'occurred'],
    ['category', 'err-category', 'field']
  ];
  function slotOf(fieldPath) {
    for (var i = 0; i < slots.length; i++) {
      if (fieldPath.indexOf(slots[i][0]) === 0) { return slots[i]; }
    }
    return [null, 'err-form', null];
  }
  function clearErrors() {
    Array.prototype.forEach.call(form.querySelectorAll('.error'), function (el) { show(el, ''); });
    Array.prototype.forEach.call(form.querySelectorAll('[aria-invalid]'), function (el) {
      el.removeAttribute('aria-invalid');
    });
  }
  function showReasons(reasons) {
    var grouped = {};
    var first = null;
    reasons.forEach(function (r) {
      var slot = slotOf(r.field || '');
      (grouped[slot[1]] = grouped[slot[1]] || []).push(r);
      if (slot[2]) {
        $(slot[2]).setAttribute('aria-invalid', 'true');
        if (!first) { first = $(slot[2]); }
      }
    });
    Object.keys(grouped).forEach(function (id) { fill($(id), grouped[id]); });
    show($('err-form'), T.fixBelow);
    (first || $('err-form')).focus();
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    clearErrors();
    var submit = $('submit');
    var bar = $('submit-progress');
    var label = $('upload-label');
    var fd = new FormData();
    fd.append('report', reportPart(report()));
    state.files.forEach(function (item) { fd.append('media', item.file, item.file.name); });
    var headers = { 'Idempotency-Key': state.idempotency };
    if (state.verification) { headers['X-Portal-Verification'] = state.verification; }
    submit.disabled = true;
    bar.hidden = false;
    $('upload-progress').value = 0;
    label.textContent = T.sending + '0%';
    request('/v1/portal/reports', fd, headers, function (p) {
      $('upload-progress').value = p;
      label.textContent = p >= 100 ? T.processing : T.sending + p + '%';
    }).then(function (res) {
      submit.disabled = false;
      bar.hidden = true;
      if (res.status === 201) {
        done(res.body);
        return;
      }
      if (res.status === 422 && res.body.reasons) {
        // A rejected report is recorded under its key: a corrected one is a new report.
        state.idempotency = newKey();
        showReasons(res.body.reasons);
        return;
      }
      if (res.status === 409) {
        state.verification = null;
        state.verifiedEmail = null;
        $('otp-send').hidden = false;
        otpStatus.textContent = '';
        show(otpError, res.body.message_vi || T.genericError);
        $('otp-send').focus();
        return;
      }
      show($('err-form'), res.status === 0 ? T.networkError : (res.body.message_vi || T.genericError));
      $('err-form').focus();
    });
  });

  function done(body) {
    form.hidden = true;
    var section = $('done');
    $('done-verdict').textContent = body.verdict === 'accepted' ? T.accepted : T.needsReview;
    $('tracking-code').textContent = body.tracking_code;
    $('tracking-link').href = '/track/' + encodeURIComponent(body.tracking_code);
    section.hidden = false;
    section.focus();
    window.scrollTo(0, 0);
  }
}());
