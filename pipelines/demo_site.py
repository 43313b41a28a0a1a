"""The small Japanese site ``make demo`` crawls: written for the project.

Ten article pages with the same navigation and footer (boilerplate), one page that duplicates
another, an English page, and a page served in Shift_JIS. :func:`render` writes it as static
files; :func:`serve` serves a folder on 127.0.0.1.
"""
from __future__ import annotations

import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from .io import FileSystem

ARTICLES = {
    "tea": ("日本茶の楽しみ方", [
        "日本茶には煎茶、玉露、ほうじ茶、番茶など多くの種類があり、それぞれに合ったいれ方があります。"
        "煎茶なら少し冷ましたお湯を使い、一分ほど待ってから湯のみに注ぐと、甘みと渋みの釣り合いがよくなります。",
        "玉露はさらに低い温度でじっくりといれるのが基本です。五十度くらいのお湯で二分ほど待つと、"
        "うまみが口の中に広がります。急須を温めておくことも、香りを引き出すための大切な準備です。",
        "ほうじ茶は高い温度のお湯で手早くいれても香ばしさが立ちます。食事のあとや寝る前に飲んでも"
        "カフェインが少ないので、家族みんなで気軽に楽しめるのが魅力だと言えるでしょう。"]),
    "trains": ("ローカル線の旅", [
        "都会の喧騒を離れて、一両編成の列車に揺られる旅は格別です。窓の外には田んぼや小さな川が"
        "流れ、駅に着くたびに地元の人たちが乗り降りしていきます。急ぐ必要のない時間がそこにはあります。",
        "無人駅で降りてみると、駅前に古い商店がぽつんと残っていることがあります。店先で話しかけると、"
        "昔はこの町にも映画館があったのだと、店主がうれしそうに教えてくれました。",
        "帰りの列車を一本逃しても、次の列車まで待つ時間さえ旅の一部になります。ベンチに座って"
        "山の稜線を眺めていると、時刻表に縛られない過ごし方もよいものだと思えてきます。"]),
    "miso": ("手作り味噌の一年", [
        "冬の寒い時期に大豆を煮て、麹と塩を混ぜて仕込むのが昔ながらの味噌づくりです。つぶした大豆を"
        "団子にして樽に投げ入れると、空気が抜けてかびが生えにくくなると祖母から教わりました。",
        "夏を越すころには発酵が進み、色がだんだん濃くなっていきます。途中で一度天地返しをして、"
        "上と下を入れ替えると熟成のむらが少なくなり、味がまろやかに仕上がります。",
        "一年たって樽を開けたときの香りは、市販のものとはまったく違います。できたての味噌で作る"
        "味噌汁は、具がわかめと豆腐だけでも、驚くほど深い味わいになるのです。"]),
    "library": ("町の図書館を使いこなす", [
        "図書館は本を借りるだけの場所ではありません。新聞や雑誌のバックナンバー、地域の古い地図、"
        "郷土の資料など、ほかでは手に入らない情報がたくさん眠っています。",
        "調べものに困ったら、レファレンスサービスを頼ってみましょう。司書の方は資料探しの専門家で、"
        "どの棚のどの本を見ればよいか、思いもよらない手がかりを示してくれることがあります。",
        "最近では電子書籍の貸し出しや、オンラインでの予約を行う図書館も増えてきました。開館時間に"
        "行けない人でも、自宅から気軽に利用できるようになったのはうれしい変化です。"]),
    "garden": ("ベランダ菜園のはじめ方", [
        "狭いベランダでも、プランターを使えば野菜を育てることができます。最初はミニトマトやバジル、"
        "ラディッシュのように育てやすく、成長が目に見えて楽しいものから始めるのがおすすめです。",
        "日当たりと水はけは何より大切です。土が乾いたらたっぷり水をやり、受け皿にたまった水は"
        "捨てておきましょう。根が呼吸できないと、せっかくの苗が弱ってしまいます。",
        "収穫したばかりの野菜は、味も香りもスーパーで買うものとはひと味違います。自分で育てた"
        "トマトを一粒かじったとき、手間をかけた分だけの喜びがあると実感しました。"]),
    "festival": ("夏祭りの思い出", [
        "子どものころ、夏休みの楽しみといえば神社の夏祭りでした。夕方になると浴衣に着替え、"
        "小銭を握りしめて友だちと待ち合わせ、提灯の並ぶ参道へと駆けだしたものです。",
        "金魚すくいはいつも一匹もすくえず、店のおじさんがおまけに一匹くれるのが決まりでした。"
        "その金魚は家の水槽で何年も生き、家族の一員のように大切にされていました。",
        "祭りの最後に上がる花火を見上げながら、夏が終わっていく寂しさを感じたことを覚えています。"
        "大人になった今でも、太鼓の音が聞こえるとあの夜の空気がよみがえってきます。"]),
    "bread": ("家庭で焼くパン", [
        "パン作りは難しそうに見えますが、材料は小麦粉、水、塩、酵母だけです。こねる時間と"
        "発酵の温度さえ気をつければ、家庭のオーブンでも十分においしいパンが焼けます。",
        "生地をこねるうちに、べたついていた手触りがなめらかに変わっていきます。薄く伸ばして"
        "向こうが透けて見えるようになったら、グルテンがしっかりできている合図です。",
        "焼き上がったパンをオーブンから出すと、台所いっぱいに香ばしいにおいが広がります。"
        "少し冷めてから切ると、断面がきれいにそろい、中のふんわりした様子がよくわかります。"]),
    "stars": ("冬の星空観察", [
        "冬は空気が澄んでいて、星を観察するのに最適な季節です。オリオン座の三つ星を見つけたら、"
        "その左上に赤く輝くベテルギウス、右下に青白いリゲルを探してみましょう。",
        "街明かりの少ない場所へ出かけると、肉眼でも天の川がうっすら見えることがあります。"
        "目が暗さに慣れるまで十分ほど待つと、見える星の数がぐっと増えていきます。",
        "双眼鏡があれば、すばるの青い星の集まりや、オリオン大星雲のぼんやりした光も楽しめます。"
        "寒さ対策をしっかりして、温かい飲み物を用意して出かけるのがおすすめです。"]),
    "cats": ("猫と暮らす毎日", [
        "猫は気まぐれだと言われますが、一緒に暮らしてみると意外に規則正しい生き物です。毎朝"
        "同じ時間に起こしに来て、ごはんの時間になると台所の前でじっと待っています。",
        "日だまりを見つけるのが得意で、季節によってお気に入りの昼寝場所が変わります。冬は"
        "こたつの中、夏は廊下の板の間と、家の中でいちばん快適な場所をよく知っているのです。",
        "仕事から帰ると玄関まで迎えに来てくれることもあり、その日の疲れが一気に消えていきます。"
        "言葉は通じなくても、気持ちはちゃんと伝わっているのだと感じる瞬間です。"]),
    "rain": ("梅雨の過ごし方", [
        "梅雨の季節は雨の日が続き、気分も沈みがちです。けれども、あじさいが色を深め、"
        "田植えを終えた田んぼが雨を受けて輝く様子は、この時期ならではの美しい景色です。",
        "家にいる時間が長くなるので、読みかけの本を片付けたり、保存食を作ったりするのに"
        "ちょうどよい機会でもあります。梅の実が出回るので、梅シロップを漬けるのも楽しみの一つです。",
        "湿気対策には、こまめな換気と除湿が欠かせません。押し入れや靴箱に乾燥剤を置くだけでも、"
        "かびの発生をずいぶん抑えられるので、早めの準備を心がけたいものです。"]),
}
SJIS_PAGE = ("shogi", "将棋の基本", [
    "将棋は二人で対局する盤上の遊びで、相手の玉将を詰ませたほうが勝ちになります。取った駒を"
    "自分の駒として再び盤上に打てることが、ほかの国の似た遊びにはない大きな特徴です。",
    "初心者はまず駒の動かし方を覚え、次に簡単な詰将棋を解いてみるとよいでしょう。"
    "短い手順で玉を追いつめる練習を重ねるうちに、自然と読みの力が身についていきます。",
    "対局のあとに、どこで形勢が変わったのかを相手と一緒に振り返る感想戦は、将棋ならではの"
    "よい習慣です。勝っても負けても、そこから学べることが必ずあるからです。"])
ENGLISH = ("english", "About this site", [
    "This is a small demonstration site written in English. It exists so that the language "
    "filter has something to reject: a page with no Japanese text at all.",
    "The rest of the site is written in Japanese and covers everyday topics such as tea, "
    "trains, gardening, bread and the night sky."])

NAV = ('<nav class="menu"><a href="index.html">ホーム</a> | <a href="tea.html">お茶</a> | '
       '<a href="trains.html">旅</a> | <a href="about.html">このサイトについて</a></nav>')
FOOTER = "<footer><p>Copyright 2026 暮らしの小さな百科 ・ 無断転載を禁じます</p></footer>"


def _page(title: str, paragraphs, charset: str = "utf-8") -> str:
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return (f'<!DOCTYPE html>\n<html lang="ja"><head><meta charset="{charset}">'
            f"<title>{title} | 暮らしの小さな百科</title></head><body>\n{NAV}\n"
            f"<main><h1>{title}</h1>\n{body}\n</main>\n{FOOTER}\n</body></html>\n")


def render(folder: str) -> list[str]:
    """Write the site into ``folder``; return the page file names."""
    os.makedirs(folder, exist_ok=True)
    files = {}
    names = list(ARTICLES) + [SJIS_PAGE[0], "tea-copy", ENGLISH[0]]
    links = "\n".join(f'<li><a href="{n}.html">{ARTICLES.get(n, ("",))[0] or n}</a></li>'
                      for n in names)
    files["index.html"] = _page("目次", [f"<ul>{links}</ul>"]).encode("utf-8")
    for name, (title, paras) in ARTICLES.items():
        files[f"{name}.html"] = _page(title, paras).encode("utf-8")
    files["tea-copy.html"] = _page(ARTICLES["tea"][0], ARTICLES["tea"][1]).encode("utf-8")
    files["english.html"] = _page(ENGLISH[1], ENGLISH[2]).replace('lang="ja"', 'lang="en"').encode()
    files["shogi.html"] = _page(SJIS_PAGE[1], SJIS_PAGE[2], "shift_jis").encode("cp932")
    files["about.html"] = _page("このサイトについて", [
        "暮らしの小さな百科は、毎日の生活に役立つ話題を短い記事にまとめたサイトです。"]).encode()
    files["robots.txt"] = b"User-agent: *\nDisallow: /private/\n"
    for name, data in files.items():
        with FileSystem().create(os.path.join(folder, name)) as f:
            f.write(data)
    return sorted(files)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def serve(folder: str) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``folder`` on 127.0.0.1 (a free port) in a daemon thread; return (server, base URL)."""
    handler = lambda *a, **k: _Quiet(*a, directory=folder, **k)  # noqa: E731
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


SITES_TOML = """[[sites]]
name = "demo"
seeds = ["{base}"]
genre = "blog"
weight = 1.0
politeness = {{ requests_per_second = 50, concurrency = 2, max_pages = 100 }}
filters = {{ min_length = 200 }}
"""
